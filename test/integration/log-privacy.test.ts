import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { generateLuccaUsers, type LuccaRawUser } from '../../dev-tools/fake-lucca';
import { ChildWorker } from '../../dev-tools/child-worker/child-worker';
import { failureCode, failureType } from '../../domain/failures';
import { syncRunWorkflow } from '../../workflows';
import { runResult } from '../../temporal/client';
import type { SyncRunResult } from '../../workflows/messages';
import {
  MONGODB_URI,
  openStack,
  TEMPORAL_ADDRESS,
  TEST_SECRET,
  uniqueSuffix,
  type Stack,
  workflowBundleFile,
} from './helpers';
import { found, personalData, readableHistory } from './privacy-kit';
import { addTestCompany, changeFor, luccaDate, startSync, TODAY, type TestCompany } from './sync-kit';

/**
 * "No personal data in logs, ever", checked where it can break: failure scenarios run by a worker
 * process built as `npm run worker` builds it (`runWorker`, pino, the SDK's logs routed into it)
 * at LOG_LEVEL=debug, so every failed attempt is logged with its error. Then the whole of its
 * output, and the histories of the runs, are searched for every name, email and birth date the
 * fake Lucca served, and for the API keys.
 */
const PAGE_SIZE = 25;
const SIZE = 100;

interface Company extends TestCompany {
  users: LuccaRawUser[];
}

interface LoggedLine {
  msg?: string;
  activityType?: string;
  error?: { name?: string; code?: unknown; message?: string };
}

describe('no personal data in the worker’s logs, failures included', () => {
  let stack: Stack;
  let worker: ChildWorker | undefined;
  let bundleFile: string;
  const lines: string[] = [];
  const companies: Company[] = [];
  const runs: { handle: WorkflowHandle<typeof syncRunWorkflow>; result?: SyncRunResult }[] = [];

  before(async () => {
    stack = await openStack('logprivacy');
    bundleFile = await workflowBundleFile();
    worker = await ChildWorker.start({
      temporalAddress: TEMPORAL_ADDRESS,
      mongoUri: MONGODB_URI,
      mongoDb: stack.db.databaseName,
      taskQueue: stack.taskQueue,
      secret: TEST_SECRET,
      bundlePath: bundleFile,
      pageSize: PAGE_SIZE,
      // Failed attempts are warnings; debug adds every activity start and end, and the SDK's own.
      logLevel: 'debug',
      onLine: (line) => lines.push(line),
    });
  });

  after(async () => {
    await worker?.stop();
    await stack?.close();
    await rm(bundleFile, { force: true });
  });

  /** A company of its own email domain (the platform may hold several companies of one group). */
  async function addCompany(seed: number, extra: LuccaRawUser[] = []): Promise<Company> {
    const users = [
      ...generateLuccaUsers({ size: SIZE, seed, today: TODAY, emailDomain: `co${seed}.example` }),
      ...extra,
    ];
    const company = { ...(await addTestCompany(stack, users)), users };
    companies.push(company);
    return company;
  }

  async function sync(company: Company, opts: { runId?: string } = {}): Promise<SyncRunResult> {
    const handle = await startSync(stack, stack.taskQueue, company.companyId, opts);
    const run: (typeof runs)[number] = { handle };
    runs.push(run);
    run.result = await runResult(handle);
    return run.result;
  }

  /** The worker's JSON log lines (anything else it printed skipped). */
  function parsedLines(): LoggedLine[] {
    return lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as LoggedLine];
      } catch {
        return [];
      }
    });
  }

  /** The worker's log lines about failed attempts of `activityType`. */
  const failedAttempts = (activityType: string) =>
    parsedLines().filter((l) => l.msg === 'Activity failed' && l.activityType === activityType);

  test('Lucca answering 500 twice is retried and the run recovers; bad records are skipped with a reason', async () => {
    const hostile: LuccaRawUser = {
      id: 9001,
      firstName: 'Philibert',
      lastName: 'Vasseur-Quintal',
      mail: 'philibert.vasseur@',
      birthDate: luccaDate('1979-02-30'),
      dtContractStart: luccaDate('2019-03-04'),
      dtContractEnd: null,
      modifiedAt: '2026-01-10T09:00:00.000',
    };
    const company = await addCompany(11, [hostile]);
    // Rules answer in order: two pages go through, the next two requests get a 500, then Lucca is back.
    stack.lucca.addFault({ tenant: company.tenant, kind: 'slow', delayMs: 1, times: 2 });
    stack.lucca.addFault({ tenant: company.tenant, kind: 'status', status: 500, times: 2 });

    const result = await sync(company);

    assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
    assert.equal(stack.lucca.requests(company.tenant).filter((r) => r.status === 500).length, 2);
    assert.ok(result.counts!.skipped >= 4, `records skipped as bad data (${result.counts!.skipped})`);
    const [skip] = await changeFor(stack, result.runId, hostile.id);
    assert.equal(skip?.action, 'skip');
    assert.ok(
      failedAttempts('fetchLuccaUsers').some((l) => l.error?.code === failureType('lucca-unavailable')),
      'the failed attempts were logged',
    );
  });

  test('a key revoked in the middle of the read fails the run as lucca-auth', async () => {
    const company = await addCompany(12);
    // Rules answer in order: two pages go through, then every request gets a 401.
    stack.lucca.addFault({ tenant: company.tenant, kind: 'slow', delayMs: 1, times: 2 });
    stack.lucca.addFault({ tenant: company.tenant, kind: 'status', status: 401, times: Infinity });

    const result = await sync(company);

    assert.equal(result.status, 'failed');
    assert.equal(result.error?.code, 'lucca-auth');
    assert.ok(failedAttempts('fetchLuccaUsers').some((l) => l.error?.code === failureType('lucca-auth')));
  });

  test('a report write refused on a duplicate key (its documents carry the employees) is retried and the run recovers', async () => {
    const company = await addCompany(13);
    const runId = `run-${uniqueSuffix()}`;
    // What an earlier execution of the same run leaves (a Temporal reset replays the read as a first
    // attempt, which does not clear the run's report): the first change of page one collides.
    await stack.store.syncChanges.insertOne({
      _id: `${runId}:000000001`,
      runId,
      companyId: company.companyId,
      seq: 1,
      luccaUserId: null,
      profileId: null,
      action: 'skip',
      fields: null,
      target: null,
      reason: null,
      reasons: [],
    });
    const before = failedAttempts('fetchLuccaUsers').length;

    const result = await sync(company, { runId });

    assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
    const storage = failedAttempts('fetchLuccaUsers')
      .slice(before)
      .filter((l) => l.error?.code === failureType('storage'));
    assert.equal(storage.length, 1, 'the refused write failed one attempt, logged');
    assert.match(storage[0]!.error!.message!, /^MongoBulkWriteError: The store refused a write/);
  });

  test("a profile update refused by the platform's own unique index is a conflict in the report, the email unquoted", async () => {
    const other = companies[0]!;
    const company = await addCompany(14);
    assert.equal((await sync(company)).status, 'succeeded');
    // The platform keeps one login per email across its companies; an employee of one company of
    // the group takes, in Lucca, the email of an employee of another one.
    const holder = await stack.store.profiles.findOne({ companyId: other.companyId, 'lucca.userId': { $gt: 30 } });
    const mover = await stack.store.profiles.findOne({ companyId: company.companyId, 'lucca.userId': { $gt: 30 } });
    const taken = holder!.email!;
    await stack.store.profiles.createIndex({ email: 1 }, { unique: true, name: 'platform_login' });
    try {
      stack.lucca.mutateUsers(company.tenant, (users) =>
        users.map((u) => (u.id === mover!.lucca!.userId ? { ...u, mail: taken } : u)),
      );
      company.users = stack.lucca.getUsers(company.tenant);
      const before = failedAttempts('applySyncPlan').length;

      const result = await sync(company);

      assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
      const [change] = await changeFor(stack, result.runId, mover!.lucca!.userId);
      assert.equal(change?.action, 'conflict');
      assert.equal(change?.reason?.code, 'email-taken-at-apply');
      assert.match(change?.reason?.message ?? '', /a profile of another company/);
      assert.ok(!JSON.stringify(change?.reasons).includes(taken), 'the email is not in the reason');
      assert.equal((await stack.store.profiles.findOne({ _id: mover!._id }))?.email, mover!.email, 'left as it is');
      assert.equal(failedAttempts('applySyncPlan').length, before, 'no attempt failed on it');
    } finally {
      await stack.store.profiles.dropIndex('platform_login');
    }
  });

  test('the worker’s whole log output, and the runs’ histories, hold no name, email, birth date or API key', async () => {
    await worker?.stop();
    worker = undefined;
    const secrets = [
      ...companies.map((c) => c.apiKey),
      ...personalData(companies.flatMap((c) => [...c.users, ...stack.lucca.getUsers(c.tenant)])),
    ];
    assert.ok(secrets.length > 4 * SIZE, `the search covers the dataset (${secrets.length} values)`);
    assert.ok(lines.length > 50, `the worker logged (${lines.length} lines)`);

    assert.deepEqual(found(lines.join('\n'), secrets), [], 'personal data in the worker’s log');

    assert.ok(runs.length >= 5 && runs.every((r) => r.result), 'every run finished');
    for (const { handle, result } of runs) {
      const history = readableHistory(await handle.fetchHistory());
      assert.ok(history.includes(result!.summary), 'payloads are decoded');
      assert.deepEqual(found(history, secrets), [], `personal data in the history of ${handle.workflowId}`);
    }
  });

  test('every failed attempt was logged with a failure the translator made, as name, code and message only', () => {
    const failed = parsedLines().filter((l) => l.msg === 'Activity failed');
    // Two Lucca 500s, a revoked key, a refused report write.
    assert.ok(failed.length >= 4, `failed attempts were logged (${failed.length})`);
    for (const { error } of failed) {
      assert.deepEqual(Object.keys(error ?? {}).sort(), ['code', 'message', 'name'], JSON.stringify(error));
      assert.equal(error?.name, 'ApplicationFailure', JSON.stringify(error));
      assert.notEqual(
        failureCode(String(error?.code)),
        null,
        `a failure type of the vocabulary: ${String(error?.code)}`,
      );
    }
  });
});
