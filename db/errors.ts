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
