import { MongoError, MongoServerError } from 'mongodb';

/**
 * True only for a bulk insert that failed on duplicate keys and nothing else — the one error an
 * idempotent re-insert may swallow. A network error, a timeout or a server restart carries no
 * `writeErrors`: it must propagate (and the activity be retried), or a page or a batch of creates
 * would be taken as written while it was not.
 */
export function isDuplicateKeyOnly(err: unknown): boolean {
  const { code, writeErrors } = err as { code?: number; writeErrors?: { code?: number }[] | { code?: number } };
  if (code === 11000) return true;
  // The driver gives an array for several write errors, and the bare error for one.
  const errors = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
  return errors.length > 0 && errors.every((e) => e.code === 11000);
}

/**
 * True for a write a unique index refused, however the store says it: MongoDB and FerretDB's
 * inserts answer 11000; FerretDB's updates answer an internal error (code 1) quoting SQLite's
 * "UNIQUE constraint failed" or PostgreSQL's "duplicate key value violates unique constraint".
 * Only the store's own wording is matched, never a value it quotes.
 */
export function isUniqueViolation(err: unknown): boolean {
  if (isDuplicateKeyOnly(err)) return true;
  const message = err instanceof Error ? err.message : '';
  return isServerError(err) && /UNIQUE constraint failed|duplicate key value violates unique constraint/.test(message);
}

/**
 * An error the MongoDB server (or FerretDB) answered with. Matched by shape as well as by class:
 * a second copy of the driver in node_modules makes `instanceof` fail.
 */
function isServerError(err: unknown): err is Error & { code?: unknown; codeName?: unknown } {
  return (
    err instanceof MongoServerError ||
    (err instanceof Error && ('errorResponse' in err || 'writeErrors' in err || 'errInfo' in err))
  );
}

/** Index names are the schema's, never data: only such a name is ever taken from a server message. */
const INDEX_NAME = /^[\w.$-]{1,128}$/;

/** The index a unique-key violation names: MongoDB's `index: <name> dup key`, FerretDB's `index '<name>'`. */
function violatedIndex(message: string): string | null {
  const name =
    / index: (\S+) dup key/.exec(message)?.[1] ?? /UNIQUE constraint failed: index '([^']+)'/.exec(message)?.[1];
  return name && INDEX_NAME.test(name) ? name : null;
}

/**
 * The message that may be given, outside the process, of an error of the store or its driver;
 * null for any other error. A server's answer is told by its code and code name in a fixed
 * sentence, and a unique-key violation by the index's name. Never by the server's message or the
 * error's fields: a duplicate key error quotes the key (`dup key: { email: "…" }`), a bulk write
 * error carries the documents it could not write (`writeErrors[].op`), a validation error the
 * offending document (`errInfo`). The driver's own errors (network, timeouts, server selection)
 * keep their message, which the driver makes of hosts and states.
 */
export function describeStoreError(err: unknown): string | null {
  if (!isServerError(err)) {
    const driver = err instanceof MongoError || (err instanceof Error && err.name.startsWith('Mongo'));
    return driver ? err.message : null;
  }
  const code = typeof err.code === 'number' ? err.code : null;
  const codeName = typeof err.codeName === 'string' && /^\w{1,64}$/.test(err.codeName) ? err.codeName : null;
  const index = violatedIndex(err.message);
  const answer = code === null ? 'an error' : `error ${code}${codeName ? ` (${codeName})` : ''}`;
  if (isDuplicateKeyOnly(err) || /UNIQUE constraint failed/.test(err.message)) {
    return (
      `The store refused a write: a unique index${index ? ` (${index})` : ''} already holds the value ` +
      `(${answer}). The value is not quoted: it may be personal data.`
    );
  }
  return `The store answered ${answer}. Its message is not quoted: it may carry a document.`;
}
