import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import {
  MongoBulkWriteError,
  MongoNetworkError,
  MongoServerError,
  type BulkWriteResult,
  type WriteError,
} from 'mongodb';
import { createActivities, type ActivityDeps } from '../../activities';
import { toTemporalFailure, translatingFailures } from '../../activities/errors';
import { keyringOf } from '../../db/api-key-cipher';
import type { Repositories } from '../../db/mongo';
import { failureType } from '../../domain/failures';
import { createLogger } from '../../workers/logger';

/** One employee, as a driver error would carry them. */
const PERSON = {
  firstName: 'Hortense',
  lastName: 'Nguyen-Lefort',
  email: 'hortense.nguyen@acme.example',
  birthDate: '1984-03-09',
};
const PERSONAL = Object.values(PERSON);

const leaksIn = (text: string) => PERSONAL.filter((value) => text.includes(value));

/** What MongoDB answers to an insert that collides on a unique index: the key quoted, the document kept. */
function duplicateKeyError(): MongoServerError {
  return new MongoServerError({
    errmsg:
      'E11000 duplicate key error collection: platform.profiles index: company_email dup key: ' +
      `{ companyId: "co-1", email: "${PERSON.email}" }`,
    code: 11000,
    keyPattern: { companyId: 1, email: 1 },
    keyValue: { companyId: 'co-1', email: PERSON.email },
  });
}

/** A bulk insert refused on the same index: every refused document rides along in `writeErrors[].op`. */
function bulkWriteError(): MongoBulkWriteError {
  const message = duplicateKeyError().message;
  const op = { _id: 'p-1', companyId: 'co-1', ...PERSON, lucca: { userId: 7, syncedValues: PERSON } };
  // The driver's WriteError (not exported at run time), as it serialises.
  const writeError = { code: 11000, index: 0, errmsg: message, op } as unknown as WriteError;
  return new MongoBulkWriteError({ message, code: 11000, writeErrors: [writeError] }, {
    insertedCount: 0,
    insertedIds: {},
  } as unknown as BulkWriteResult);
}

function translated(err: unknown): ApplicationFailure {
  const failure = toTemporalFailure(err);
  assert.ok(failure instanceof ApplicationFailure);
  return failure;
}

describe('no personal data in a failure an activity throws', () => {
  test('a MongoDB duplicate key error quoting an email becomes a retryable storage failure naming the index, not the key', () => {
    const failure = translated(duplicateKeyError());

    assert.equal(failure.type, failureType('storage'));
    assert.equal(failure.nonRetryable, false);
    assert.match(failure.message, /^MongoServerError: The store refused a write: a unique index \(company_email\)/);
    assert.match(failure.message, /\(error 11000\)/);
    assert.deepEqual(leaksIn(JSON.stringify({ ...failure, message: failure.message })), []);
    assert.deepEqual(failure.details ?? [], [], 'no details');
    assert.equal(failure.cause, undefined);
  });

  test('a bulk write error carrying the refused documents becomes a failure without them', () => {
    const err = bulkWriteError();
    assert.ok(leaksIn(JSON.stringify(err)).length > 0, 'the driver error itself carries the person');

    const failure = translated(err);

    assert.equal(failure.type, failureType('storage'));
    assert.match(failure.message, /^MongoBulkWriteError: The store refused a write/);
    assert.deepEqual(leaksIn(`${failure.message} ${failure.stack} ${JSON.stringify(failure)}`), []);
  });

  test("FerretDB's unique constraint violation is told as a duplicate key on the index it names", () => {
    const failure = translated(
      new MongoServerError({
        errmsg:
          '[msg_update.go:133 handler.(*Handler).updateDocument] constraint failed: UNIQUE constraint failed: ' +
          "index 'profiles_86daf527_platform_login' (2067)",
        code: 1,
        codeName: 'InternalError',
      }),
    );
    assert.match(failure.message, /a unique index \(profiles_86daf527_platform_login\) already holds the value/);
  });

  test('another server error keeps its code and code name, never its message or errInfo', () => {
    const failure = translated(
      new MongoServerError({
        errmsg: `Document failed validation: ${JSON.stringify(PERSON)}`,
        code: 121,
        codeName: 'DocumentValidationFailure',
        errInfo: { failingDocument: PERSON },
      }),
    );
    assert.equal(
      failure.message,
      'MongoServerError: The store answered error 121 (DocumentValidationFailure). Its message is not quoted: it may carry a document.',
    );
  });

  test("a driver error (network, timeout) is a storage failure with the driver's own message", () => {
    const failure = translated(new MongoNetworkError('connection 3 to 127.0.0.1:27017 closed'));
    assert.equal(failure.type, failureType('storage'));
    assert.equal(failure.message, 'MongoNetworkError: connection 3 to 127.0.0.1:27017 closed');
  });

  test('any other error keeps its name and message, with anything shaped like an email masked', () => {
    const failure = translated(
      new SyntaxError(`Unexpected token in "${PERSON.email}", then ${PERSON.email.toUpperCase()}`),
    );
    assert.equal(failure.type, failureType('internal'));
    assert.equal(failure.message, 'SyntaxError: Unexpected token in "<email>", then <email>');
  });
});

describe('every activity the worker registers goes through the translator', () => {
  /** A store whose every call fails the way a refused bulk write does, documents included. */
  const failingStore = new Proxy({} as Repositories, {
    get: () =>
      new Proxy(
        {},
        {
          get: () => () => {
            throw bulkWriteError();
          },
        },
      ),
  });
  const deps: ActivityDeps = {
    repos: failingStore,
    keyring: keyringOf([{ id: 'default', secret: 'unit-test-secret-0123456789abcdef' }]),
    lucca: { timeoutMs: 1_000, rateLimit: null, allowedHosts: ['http://127.0.0.1:*'] },
    temporal: {
      client: {
        workflow: {
          signalWithStart: () => Promise.reject(new Error(`Workflow for ${PERSON.email} could not start`)),
        },
      } as unknown as NonNullable<ActivityDeps['temporal']>['client'],
      taskQueue: 'q',
    },
  };
  /** One input every activity accepts (each reads the fields it needs). */
  const input = {
    companyId: 'co-1',
    runId: 'run-1',
    trigger: 'manual',
    requestedBy: 'test',
    dryRun: false,
    allowMassDeactivation: false,
    status: 'failed',
    error: null,
    profileWrites: 0,
  };

  const activities = createActivities(deps);
  for (const name of Object.keys(activities) as (keyof typeof activities)[]) {
    test(`${name} fails with a Temporal failure that carries nothing of the data`, async () => {
      const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
      const run = activities[name] as (arg: typeof input) => Promise<unknown>;
      await assert.rejects(env.run(run, input), (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure, `${name} threw ${String(err)}`);
        assert.ok([failureType('storage'), failureType('internal')].includes(err.type ?? ''), err.type ?? '');
        assert.deepEqual(leaksIn(`${err.message} ${err.stack} ${JSON.stringify(err)}`), []);
        return true;
      });
    });
  }

  test('a cancellation and a failure already made pass through as they are', async () => {
    const abort = new DOMException('This operation was aborted', 'AbortError');
    const made = ApplicationFailure.create({ type: failureType('stalled'), message: 'stalled at page 3' });
    const wrapped = translatingFailures({
      aborted: () => Promise.reject(abort),
      failed: () => Promise.reject(made),
    });
    await assert.rejects(wrapped.aborted(), (err) => err === abort);
    await assert.rejects(wrapped.failed(), (err) => err === made);
  });
});

describe('the process logger writes errors as name, code and message only', () => {
  function capture() {
    const lines: string[] = [];
    const logger = createLogger('debug', { write: (line: string) => lines.push(line) });
    return { logger, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
  }

  test("a failed activity's error, as the Temporal SDK logs it, loses its documents, stack and fields", () => {
    const { logger, lines, parsed } = capture();

    logger.warn({ error: bulkWriteError(), durationMs: 12, activityType: 'applySyncPlan' }, 'Activity failed');

    assert.deepEqual(leaksIn(lines.join('\n')), []);
    const [line] = parsed();
    assert.deepEqual(line?.error, {
      name: 'MongoBulkWriteError',
      code: 11000,
      message:
        'The store refused a write: a unique index (company_email) already holds the value (error 11000). The value is not quoted: it may be personal data.',
    });
    assert.equal(line?.activityType, 'applySyncPlan');
    for (const field of ['stack', 'writeErrors', 'errorResponse', 'keyValue', 'errInfo', '"op"', 'result']) {
      assert.ok(!lines[0]!.includes(field), `no ${field} in ${lines[0]}`);
    }
  });

  test('an error anywhere in the fields, or logged alone without a message, is made safe the same way', () => {
    const { logger, lines, parsed } = capture();
    const failure = ApplicationFailure.create({
      type: 'StorageError',
      message: `raw ${PERSON.email}`,
      cause: duplicateKeyError(),
    });

    logger.error({ err: duplicateKeyError() }, 'Store failed');
    logger.error(duplicateKeyError());
    logger.info({ run: { attempts: [{ failure }] } }, 'Nested');
    // A failure as the SDK encodes it for history: its stack trace repeats the message.
    logger.warn(
      {
        failure: {
          message: `E11000 dup key: { email: "${PERSON.email}" }`,
          stackTrace: `Error: E11000 dup key: { email: "${PERSON.email}" }\n    at insert`,
          applicationFailureInfo: { type: 'InternalError' },
        },
      },
      'Workflow task failed',
    );

    assert.deepEqual(leaksIn(lines.join('\n')), []);
    const [withErr, alone, nested, encoded] = parsed();
    assert.equal((withErr?.err as { name: string }).name, 'MongoServerError');
    assert.match(String(alone?.msg), /^The store refused a write/);
    const attempt = (nested?.run as { attempts: { failure: unknown }[] }).attempts[0]!.failure;
    assert.deepEqual(attempt, {
      name: 'ApplicationFailure',
      code: 'StorageError',
      message: 'raw <email>',
      cause: {
        name: 'MongoServerError',
        code: 11000,
        message: (parsed()[0]?.err as { message: string }).message,
      },
    });
    assert.deepEqual(Object.keys(encoded?.failure as object).sort(), ['code', 'message', 'name']);
  });
});
