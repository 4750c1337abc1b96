import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../config/env';
import { buildConsole } from '../../console/server';
import {
  getCompaniesStatus,
  onboardCompany,
  OperationError,
  requestSync,
  waitForSyncRun,
  type OperationsDeps,
} from '../../operations';
import { ANSWER_WITHIN_MS, noWorkerSentence, queryCompanyStatus } from '../../operations/sync';
import { MAX_REMEMBERED_REQUESTS } from '../../workflows/company-sync';
import { companySyncWorkflow } from '../../workflows';
import { statusQuery, syncNowSignal, type CompanySyncStatus } from '../../workflows/messages';
import { companyWorkflowId } from '../../temporal/ids';
import { CompanyIdAttribute } from '../../temporal/search-attributes';
import { cookiesOf, logIn, settingsWithAdmin } from './console-kit';
import { forgetCompanies, newApiKey, openStack, recordHistory, stackEnv, type Stack } from './helpers';
import { addTestCompany, FAST_RETRIES, staff, startWorker, until, type RunningWorker } from './sync-kit';

const CLI = path.join(import.meta.dirname, '..', '..', 'scripts', 'cli.ts');

/**
 * What an answer "within seconds" means here: far above what it takes (milliseconds with no
 * worker, `ANSWER_WITHIN_MS` when a stopped worker still shows), far below "forever" — before,
 * such a request waited for a worker with no end.
 */
const ANSWER_BOUND_MS = 20_000;
/** How a test waits for a run: bounded, so that a run that never comes fails the test instead of hanging it. */
const WAIT = { pollMs: 100, timeoutMs: 120_000 };

/**
 * Requests made while no worker serves the company workflow's task queue (all workers down, a
 * deploy, a wrong TASK_QUEUE), and requests sent twice: every request is recorded and answered
 * within seconds, runs once a worker comes, and the same request twice is one run.
 */
describe('requests with no worker, and the same request twice, on the real stack', () => {
  let stack: Stack;
  const companies: string[] = [];
  const workers: RunningWorker[] = [];
  let queues = 0;

  before(async () => {
    stack = await openStack('noworker');
  });

  after(async () => {
    await forgetCompanies(stack, companies, 'test over');
    for (const w of workers) await w.stop();
    await stack.close();
  });

  /** A task queue of its own (no worker polls it until the test starts one), and the operations' settings for it. */
  function queue(): { taskQueue: string; deps: OperationsDeps } {
    const taskQueue = `${stack.taskQueue}-${++queues}`;
    return {
      taskQueue,
      deps: {
        repos: stack.repos,
        client: stack.client,
        config: loadConfig({ ...stackEnv(stack), TASK_QUEUE: taskQueue }),
      },
    };
  }

  async function company(size = 20) {
    const added = await addTestCompany(stack, staff(size));
    companies.push(added.companyId);
    return added;
  }

  async function worker(taskQueue: string): Promise<RunningWorker> {
    const w = await startWorker(stack, taskQueue);
    workers.push(w);
    return w;
  }

  /** The promise's value, or a failure saying it hung: the behaviour under test is that it answers. */
  async function answered<T>(what: string, promise: Promise<T>): Promise<{ value: T; ms: number }> {
    const started = Date.now();
    const timeout = sleep(ANSWER_BOUND_MS).then(() => {
      throw new Error(`${what} did not answer within ${ANSWER_BOUND_MS} ms`);
    });
    const value = await Promise.race([promise, timeout]);
    return { value, ms: Date.now() - started };
  }

  /** The company workflow's status once nothing is running or waiting. */
  const idle = (companyId: string) =>
    until('the company workflow to be idle', async () => {
      const s = await queryCompanyStatus(stack.client, companyId);
      return s && s.current === null && s.pending.length === 0 && s.lastRun ? s : undefined;
    });

  const runsOf = (companyId: string) => stack.repos.syncRuns.list(companyId, 50);

  test('with no worker, a sync request is recorded and answered within seconds, a wait gives up with the reason, and a worker started later runs it once', async (t) => {
    const { taskQueue, deps } = queue();
    const { companyId } = await company();

    const { value: ticket, ms } = await answered(
      'a request with no worker',
      requestSync(deps, { companyId, requestedBy: 'early' }),
    );
    assert.equal(ticket.queued?.reason, 'no-worker');
    assert.equal(ticket.queued?.message, noWorkerSentence(taskQueue));
    assert.equal(
      noWorkerSentence(taskQueue),
      `queued — no worker is serving task queue ${taskQueue} right now; the run starts when one is`,
    );
    assert.equal(ticket.requestId, null, 'no workflow answered it');
    t.diagnostic(`answered with no worker in ${ms} ms`);
    // Sent again with its key (a retry after a lost answer): the same request, still queued.
    const retried = await requestSync(deps, { companyId, requestedBy: 'early', requestKey: ticket.requestKey });
    assert.equal(retried.queued?.reason, 'no-worker');

    // Recorded in Temporal: the company workflow exists and holds the request in its history.
    const history = await stack.client.workflow.getHandle(companyWorkflowId(companyId)).fetchHistory();
    assert.equal(history.events?.filter((e) => e.workflowExecutionSignaledEventAttributes).length, 2);
    // A wait for the run gives up after its bound, saying why; status says it too.
    await assert.rejects(
      waitForSyncRun(deps, ticket, { noWorkerWaitMs: 1_500, pollMs: 100, timeoutMs: 30_000 }),
      (err: OperationError) => err.code === 'no-worker' && err.message.includes(noWorkerSentence(taskQueue)),
    );
    const [status] = await getCompaniesStatus(deps, { companyId });
    assert.equal(status?.workflowRunning, true);
    assert.deepEqual([status?.worker?.taskQueue, status?.worker?.serving], [taskQueue, false]);

    await worker(taskQueue);
    const [run, again] = await Promise.all([waitForSyncRun(deps, ticket, WAIT), waitForSyncRun(deps, retried, WAIT)]);
    assert.equal(run.status, 'succeeded');
    assert.equal(run.requestedBy, 'early');
    assert.equal(again._id, run._id, 'both callers learn the same run');
    const after = await idle(companyId);
    assert.equal(after.lastRun?.runId, run._id);
    assert.equal((await runsOf(companyId)).length, 1, 'the request ran once');
    const [serving] = await getCompaniesStatus(deps, { companyId });
    assert.equal(serving?.worker?.serving, true);
  });

  test('with no worker, onboarding returns promptly with its first sync queued, which runs once a worker starts', async (t) => {
    const { taskQueue, deps } = queue();
    const companyId = `nw-${newApiKey().slice(0, 8).toLowerCase()}`;
    const apiKey = newApiKey();
    stack.lucca.addTenant(companyId, {
      users: staff(15),
      apiKeys: [{ key: apiKey }],
      today: '2026-06-15',
      rateLimit: false,
    });
    companies.push(companyId);

    const { value: onboarded, ms } = await answered(
      'onboarding with no worker',
      onboardCompany(deps, {
        companyId,
        name: 'No worker yet',
        luccaUrl: stack.lucca.tenantUrl(companyId),
        apiKey,
        requestedBy: 'test',
      }),
    );
    t.diagnostic(`onboarding answered with no worker in ${ms} ms`);
    assert.equal(onboarded.firstSync.queued?.reason, 'no-worker');
    assert.equal(onboarded.firstSync.queued?.message, noWorkerSentence(taskQueue));

    await worker(taskQueue);
    const run = await waitForSyncRun(deps, onboarded.firstSync, WAIT);
    assert.equal(run.status, 'succeeded');
    assert.equal(run.trigger, 'onboarding');
    await idle(companyId);
    assert.equal((await runsOf(companyId)).length, 1);
  });

  test("the CLI's sync and status say that no worker serves the task queue, within seconds; the sync sent again with its key is one run", async (t) => {
    const { taskQueue, deps } = queue();
    const { companyId } = await company(5);
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...stackEnv(stack), TASK_QUEUE: taskQueue };
    const sendSync = () => runCli(['sync', '--company', companyId, '--request-key', 'cli-request-0001'], env);

    const { value: sync, ms } = await answered('the CLI sync', sendSync());
    t.diagnostic(`the CLI's sync (a process start included) answered in ${ms} ms`);
    assert.equal(sync.code, 0, sync.stderr);
    assert.match(
      sync.stdout,
      new RegExp(
        `Sync of ${companyId} queued — no worker is serving task queue ${taskQueue} right now; the run starts when one is \\(request key cli-request-0001\\)`,
      ),
    );
    const status = await runCli(['status', '--company', companyId], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(
      status.stdout,
      new RegExp(`Workflow: running — no worker is serving task queue ${taskQueue} right now`),
    );

    await worker(taskQueue);
    await until('the queued run to finish', async () =>
      (await runsOf(companyId))[0]?.status === 'succeeded' ? true : undefined,
    );
    const after = await runCli(['status', '--company', companyId], env);
    assert.match(after.stdout, /Workflow: running\n/);
    assert.equal((await getCompaniesStatus(deps, { companyId }))[0]?.lastRun?.status, 'succeeded');

    // The same command again (a script retrying after a lost answer): answered with the request that ran, and no new run.
    const [run] = await runsOf(companyId);
    const retried = await sendSync();
    assert.equal(retried.code, 0, retried.stderr);
    assert.match(retried.stdout, new RegExp(`request ${run!.requestId} \\(key cli-request-0001\\)`));
    assert.equal((await idle(companyId)).lastRun?.runId, run!._id);
    assert.equal((await runsOf(companyId)).length, 1);
  });

  test('the console says when no worker serves the task queue: its sync answers queued within seconds, the API says why, the tab says so', async () => {
    const { taskQueue, deps } = queue();
    const { companyId } = await company(5);
    const admin = { user: 'ops', password: `ops-${newApiKey()}` };
    const app: FastifyInstance = await buildConsole({
      deps,
      db: stack.db,
      settings: await settingsWithAdmin(admin),
    });
    try {
      const cookie = await logIn(app, admin);
      const session = await app.inject({ method: 'GET', url: '/api/session', headers: { cookie } });
      const csrf = session.json<{ csrfToken: string }>().csrfToken;
      const sync = () =>
        app.inject({
          method: 'POST',
          url: `/api/companies/${companyId}/sync`,
          headers: { cookie, 'csrf-token': csrf },
          payload: { requestKey: 'console-request-0001' },
        });

      const { value: res } = await answered('the console API sync', sync());
      assert.equal(res.statusCode, 202, res.body);
      const body = res.json<{
        requestId: string | null;
        requestKey: string;
        queued: { reason: string; message: string } | null;
      }>();
      assert.deepEqual(
        [body.requestId, body.requestKey, body.queued?.reason, body.queued?.message],
        [null, 'console-request-0001', 'no-worker', noWorkerSentence(taskQueue)],
      );
      assert.equal((await sync()).statusCode, 202, 'sent again: the same request');

      const company = await app.inject({ method: 'GET', url: `/api/companies/${companyId}`, headers: { cookie } });
      assert.deepEqual(
        (({ taskQueue: q, serving }) => [q, serving])(
          company.json<{ worker: { taskQueue: string; serving: boolean } }>().worker,
        ),
        [taskQueue, false],
      );
      const tab = await app.inject({ method: 'GET', url: `/companies/${companyId}/integration`, headers: { cookie } });
      const note = /data-testid="no-worker">([^<]*)</.exec(tab.body)?.[1] ?? '';
      assert.ok(note.includes(taskQueue), `the tab says no worker serves ${taskQueue}: "${note.trim()}"`);
      // The tab's own form, as a browser sends it: its request key comes with it, and the answer says it waits.
      const form = /<form method="post" action="\/companies\/[^"]+\/sync"[^]*?<\/form>/.exec(tab.body)?.[0] ?? '';
      const field = (name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(form)?.[1];
      assert.ok(field('requestKey'), 'the sync form carries a request key');
      const posted = await app.inject({
        method: 'POST',
        url: `/companies/${companyId}/sync`,
        headers: { cookie },
        payload: { _csrf: field('_csrf'), requestKey: field('requestKey') },
      });
      assert.equal(posted.statusCode, 303, posted.body);
      const next = await app.inject({
        method: 'GET',
        url: `/companies/${companyId}/integration`,
        headers: {
          // The logged-in browser's cookies, with those the answer set (its flash) in their place.
          cookie: [
            ...new Map([
              ...cookie.split('; ').map((c) => [c.slice(0, c.indexOf('=')), c.slice(c.indexOf('=') + 1)] as const),
              ...cookiesOf(posted),
            ]),
          ]
            .map(([name, value]) => `${name}=${value}`)
            .join('; '),
        },
      });
      assert.match(next.body, /data-testid="flash">[^<]*(no worker|aucun worker)/);

      await worker(taskQueue);
      await idle(companyId);
      assert.equal((await runsOf(companyId)).length, 1, 'one run for the requests waiting together');
    } finally {
      await app.close();
    }
  });

  test('a worker that has just stopped still shows: the request waits for its answer at most a few seconds, then is queued, and runs once', async (t) => {
    const { taskQueue, deps } = queue();
    const { companyId } = await company(10);
    const first = await worker(taskQueue);
    await waitForSyncRun(deps, await requestSync(deps, { companyId, requestedBy: 'first' }), WAIT);
    await idle(companyId);
    await first.stop();

    const { value: ticket, ms } = await answered(
      'a request after the worker stopped',
      requestSync(deps, { companyId, requestedBy: 'second' }),
    );
    // The server lists the stopped worker for a while: the update is tried, and given up after ANSWER_WITHIN_MS.
    assert.equal(ticket.queued?.reason, 'no-answer', JSON.stringify(ticket));
    assert.ok(ms >= ANSWER_WITHIN_MS, `waited for the update (${ms} ms)`);
    t.diagnostic(`answered after the worker stopped in ${ms} ms`);
    assert.match(
      ticket.queued?.message ?? '',
      new RegExp(`did not answer within 5 s although task queue ${taskQueue} has a worker`),
    );

    await worker(taskQueue);
    const run = await waitForSyncRun(deps, ticket, WAIT);
    assert.equal(run.requestedBy, 'second');
    await idle(companyId);
    // The update the server held and the signal sent after it are one request: one more run, not two.
    assert.equal((await runsOf(companyId)).length, 2);
    await recordHistory(stack, 'request-update-then-signal', companyWorkflowId(companyId));
  });

  test('the same request sent twice starts one run and both callers learn it: as an update, as a signal, and after continue-as-new', async () => {
    const { taskQueue, deps } = queue();
    await worker(taskQueue);
    const { companyId } = await company(10);
    // The company workflow continues as new after each run: a key must be remembered across it.
    const handle = await stack.client.workflow.start(companySyncWorkflow, {
      taskQueue,
      workflowId: companyWorkflowId(companyId),
      args: [{ companyId, tuning: FAST_RETRIES, maxRunsPerExecution: 1 }],
      typedSearchAttributes: [{ key: CompanyIdAttribute, value: companyId }],
    });
    const firstExecution = (await handle.describe()).runId;

    const [a, b] = await Promise.all([
      requestSync(deps, { companyId, requestedBy: 'twice', requestKey: 'same-request-0001' }),
      requestSync(deps, { companyId, requestedBy: 'twice', requestKey: 'same-request-0001' }),
    ]);
    assert.ok(a.requestId);
    assert.equal(b.requestId, a.requestId, 'both callers learn the same request');
    const run = await waitForSyncRun(deps, a, WAIT);
    await idle(companyId);
    await until('the workflow to continue as new', async () => {
      const d = await handle.describe();
      return d.runId !== firstExecution ? true : undefined;
    });

    // After the run, and in a new execution: as an update (what a retried call sends)…
    const late = await requestSync(deps, { companyId, requestedBy: 'twice', requestKey: 'same-request-0001' });
    assert.equal(late.requestId, a.requestId);
    assert.equal(late.ahead, 0);
    // …and as a signal (what a request with no answer falls back to).
    await stack.client.workflow
      .getHandle(companyWorkflowId(companyId))
      .signal(syncNowSignal, { requestedBy: 'twice', requestKey: 'same-request-0001' });
    const status = await idle(companyId);
    assert.equal(status.lastRun?.runId, run._id);
    assert.deepEqual(
      status.requests?.map((r) => [r.key, r.requestId]),
      [['same-request-0001', a.requestId]],
      'remembered across continue-as-new',
    );
    assert.equal((await runsOf(companyId)).length, 1, 'one run for the one request');

    // Another key is another request.
    const other = await requestSync(deps, { companyId, requestedBy: 'twice', requestKey: 'other-request-0002' });
    assert.notEqual(other.requestId, a.requestId);
    await waitForSyncRun(deps, other, WAIT);
    assert.equal((await runsOf(companyId)).length, 2);
    await recordHistory(stack, 'request-keys-continued-as-new', companyWorkflowId(companyId), firstExecution);
  });

  test(`request keys are remembered up to ${MAX_REMEMBERED_REQUESTS}: ten times that many keeps the memory at its bound, and the latest still count once`, async () => {
    const { taskQueue, deps } = queue();
    await worker(taskQueue);
    const { companyId, tenant } = await company(5);
    // The first run stays on its first page for the whole test (the workflow is terminated after).
    stack.lucca.addFault({ tenant, kind: 'status', status: 503, times: Infinity });
    await requestSync(deps, { companyId, requestedBy: 'first' });
    await until(
      'the first run to start',
      async () => (await queryCompanyStatus(stack.client, companyId))?.current ?? undefined,
    );

    const handle = stack.client.workflow.getHandle(companyWorkflowId(companyId));
    const keys = Array.from(
      { length: 10 * MAX_REMEMBERED_REQUESTS },
      (_, i) => `flood-key-${String(i).padStart(5, '0')}`,
    );
    // In batches sent one after the other (in any order within a batch), in both kinds of request.
    const BATCH = 25;
    for (let i = 0; i < keys.length; i += BATCH) {
      await Promise.all(
        keys
          .slice(i, i + BATCH)
          .map((requestKey, j) =>
            handle.signal(syncNowSignal, { requestKey, requestedBy: 'flood', dryRun: (i + j) % 2 === 0 }),
          ),
      );
    }
    const full: CompanySyncStatus = await handle.query(statusQuery);
    assert.equal(full.requests?.length, MAX_REMEMBERED_REQUESTS);
    assert.deepEqual(full.requests?.map((r) => r.key).sort(), keys.slice(-MAX_REMEMBERED_REQUESTS), 'the latest keys');
    const folded = (dryRun: boolean) => full.pending.find((p) => (p.dryRun ?? false) === dryRun)!.requests;
    assert.equal(folded(true) + folded(false), keys.length);

    // The latest key again: the same request, nothing more folded. A forgotten one counts anew.
    const latest = full.requests?.at(-1);
    assert.ok(latest);
    const again = await requestSync(deps, { companyId, requestedBy: 'flood', requestKey: latest.key });
    assert.equal(again.requestId, latest.requestId);
    await handle.signal(syncNowSignal, { requestKey: keys[0], requestedBy: 'flood', dryRun: true });
    const after: CompanySyncStatus = await handle.query(statusQuery);
    assert.equal(after.pending.find((p) => !p.dryRun)!.requests, folded(false), 'the remembered key added nothing');
    assert.equal(after.pending.find((p) => p.dryRun)!.requests, folded(true) + 1, 'the forgotten key is a new request');
    assert.equal(after.requests?.length, MAX_REMEMBERED_REQUESTS);
    assert.equal(after.requests?.at(-1)?.key, keys[0]);
  });
});

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  // Killed if it hangs (what a request with no worker did): the test fails on its answer's bound first.
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 3 * ANSWER_BOUND_MS,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}
