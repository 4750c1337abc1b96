import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { SMTPServer } from 'smtp-server';
import { closeMailTransports } from '../../activities/alert-context';
import { loadConfig } from '../../config/env';
import type { AlertMessage } from '../../domain/alerts';
import { addEmailTarget, addWebhookTarget, sendTestAlert } from '../../operations/alerts';
import type { OperationsDeps } from '../../operations';
import { companySyncWorkflow } from '../../workflows';
import type { AlertWorkflowResult } from '../../workflows/alert';
import { statusQuery, syncNowSignal } from '../../workflows/messages';
import { companyWorkflowId, runAlertWorkflowId } from '../../temporal/ids';
import { CompanyIdAttribute } from '../../temporal/search-attributes';
import { MONGODB_URI, openStack, recordHistory, TEMPORAL_ADDRESS, TEST_SECRET, type Stack } from './helpers';
import {
  addTestCompany,
  FAST_RETRIES,
  staff,
  startWorker,
  until,
  type RunningWorker,
  type TestCompany,
} from './sync-kit';

/** What the test's webhook receiver got: the raw body and the headers a receiver verifies. */
interface Received {
  path: string;
  body: string;
  timestamp: string | undefined;
  signature: string | undefined;
}

/** Verifies a delivery as the documentation tells a receiver to: HMAC-SHA256 of `<timestamp>.<body>`. */
function signatureValid(secret: string, r: Received): boolean {
  if (!r.timestamp || !r.signature?.startsWith('sha256=')) return false;
  const expected = createHmac('sha256', secret).update(`${r.timestamp}.${r.body}`).digest();
  const given = Buffer.from(r.signature.slice('sha256='.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });

describe('alerts by webhook and email', () => {
  let stack: Stack;
  let worker: RunningWorker;
  let receiver: Server;
  let receiverUrl: string;
  let smtp: SMTPServer;
  let deps: OperationsDeps;
  /** Every request the receiver answered 2xx, and every one it was told to fail. */
  const received: Received[] = [];
  const refused: Received[] = [];
  /** Per path: how many of the next requests to answer 503 (Infinity: all of them). */
  const failNext = new Map<string, number>();
  /** Per path: requests held unanswered until released. */
  const holds = new Map<string, { release: () => void; released: Promise<void> }>();
  const mails: { to: string[]; raw: string }[] = [];

  before(async () => {
    stack = await openStack('alerts');
    receiver = createServer((req, res) => {
      void (async () => {
        const r: Received = {
          path: req.url ?? '',
          body: await readBody(req),
          timestamp: req.headers['x-lucca-sync-timestamp'] as string | undefined,
          signature: req.headers['x-lucca-sync-signature'] as string | undefined,
        };
        await holds.get(r.path)?.released;
        const failing = failNext.get(r.path) ?? 0;
        if (failing > 0) {
          failNext.set(r.path, failing - 1);
          refused.push(r);
          res.writeHead(503).end();
          return;
        }
        received.push(r);
        res.writeHead(204).end();
      })();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData(stream, session, callback) {
        let raw = '';
        stream.setEncoding('utf8');
        stream.on('data', (c: string) => (raw += c));
        stream.on('end', () => {
          mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;
    deps = {
      repos: stack.repos,
      client: stack.client,
      config: loadConfig({
        TEMPORAL_ADDRESS,
        MONGODB_URI,
        MONGODB_DB: stack.db.databaseName,
        LUCCA_SYNC_SECRET: TEST_SECRET,
        ALERT_WEBHOOK_HTTP_ORIGINS: receiverUrl,
        SMTP_URL: smtpUrl,
        TASK_QUEUE: stack.taskQueue,
      }),
    };
    worker = await startWorker(stack, stack.taskQueue, {
      alerts: {
        smtpUrl,
        from: 'lucca-sync <alerts@platform.example>',
        consoleUrl: 'https://console.platform.example',
        httpOrigins: [receiverUrl],
        sendTimeoutMs: 2_000,
      },
    });
  });

  after(async () => {
    await worker.stop();
    closeMailTransports();
    for (const hold of holds.values()) hold.release();
    await new Promise((resolve) => receiver.close(resolve));
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
    await stack.close();
  });

  const ALERT_RETRIES = { retryInitialIntervalMs: 200, retryMaximumIntervalMs: 500 };

  function syncNow(companyId: string, alerts: { deliveryBoundMs: number }): Promise<WorkflowHandle> {
    return stack.client.workflow.signalWithStart(companySyncWorkflow, {
      taskQueue: stack.taskQueue,
      workflowId: companyWorkflowId(companyId),
      args: [
        { companyId, tuning: { ...FAST_RETRIES, readMaximumAttempts: 3, alerts: { ...ALERT_RETRIES, ...alerts } } },
      ],
      signal: syncNowSignal,
      signalArgs: [{ requestedBy: 'test' }],
      typedSearchAttributes: [{ key: CompanyIdAttribute, value: companyId }],
    });
  }

  /** Runs one sync through the company workflow; the run's id and status once it finished. */
  async function runOnce(companyId: string, alerts = { deliveryBoundMs: 60_000 }) {
    const before = await stack.store.syncRuns.countDocuments({ companyId, status: { $ne: 'running' } });
    const handle = await syncNow(companyId, alerts);
    return until(`run ${before + 1} of ${companyId}`, async () => {
      const status = await handle.query(statusQuery);
      const done = await stack.store.syncRuns
        .find({ companyId, status: { $ne: 'running' } })
        .sort({ startedAt: 1 })
        .toArray();
      const last = done[before];
      return last && status.current === null
        ? { runId: last._id, status: last.status, code: last.error?.code }
        : undefined;
    });
  }

  /** The run's alert workflow, once it has ended (it is started after the run, never awaited by it). */
  async function alertOf(companyId: string, runId: string): Promise<AlertWorkflowResult> {
    const handle = stack.client.workflow.getHandle(runAlertWorkflowId(companyId, runId));
    await until(`the alert workflow of run ${runId}`, () =>
      handle.describe().then(
        () => true,
        () => undefined,
      ),
    );
    return handle.result() as Promise<AlertWorkflowResult>;
  }

  async function companyWithTargets(path: string, users = staff(20)): Promise<TestCompany & { secret: string }> {
    const company = await addTestCompany(stack, users);
    const { secret } = await addWebhookTarget(deps, { companyId: company.companyId, url: `${receiverUrl}${path}` });
    await addEmailTarget(deps, { companyId: company.companyId, address: `admin-${company.companyId}@client.example` });
    return { ...company, secret };
  }

  const bodiesAt = (path: string) => received.filter((r) => r.path === path);
  const mailsTo = (companyId: string) => mails.filter((m) => m.to.includes(`admin-${companyId}@client.example`));

  test('each problem alerts once, across retries and repeated failing runs; the first success after it alerts once', async () => {
    const path = '/hooks/main';
    const users = staff(20);
    const company = await companyWithTargets(path, users);
    const { companyId, tenant, apiKey } = company;
    // The receiver fails the first deliveries: Temporal retries them.
    failNext.set(path, 2);

    // Lucca down: the read is retried three times within the run, then the run fails.
    const down = stack.lucca.addFault({ tenant, times: Infinity, kind: 'status', status: 500 });
    const first = await runOnce(companyId);
    assert.deepEqual([first.status, first.code], ['failed', 'lucca-unavailable']);
    assert.equal((await alertOf(companyId, first.runId)).delivered, 2);
    await recordHistory(stack, 'delivery-retried', runAlertWorkflowId(companyId, first.runId));
    const second = await runOnce(companyId);
    assert.equal(second.code, 'lucca-unavailable');
    assert.deepEqual(await alertOf(companyId, second.runId), { alertId: null, delivered: 0, failed: 0 });
    stack.lucca.removeFault(down);

    // A revoked key is another problem; the same again says nothing.
    stack.lucca.setApiKeys(tenant, [{ key: apiKey, revoked: true }]);
    const revoked = await runOnce(companyId);
    assert.equal(revoked.code, 'lucca-auth');
    assert.equal((await alertOf(companyId, revoked.runId)).delivered, 2);
    const revokedAgain = await runOnce(companyId);
    assert.equal((await alertOf(companyId, revokedAgain.runId)).alertId, null);
    stack.lucca.setApiKeys(tenant, [{ key: apiKey }]);

    const recovered = await runOnce(companyId);
    assert.equal(recovered.status, 'succeeded');
    assert.equal((await alertOf(companyId, recovered.runId)).delivered, 2);
    const quiet = await runOnce(companyId);
    assert.equal((await alertOf(companyId, quiet.runId)).alertId, null);

    // Most people gone at once: the guard blocks the run, and that is news; then it is over again.
    stack.lucca.setUsers(tenant, users.slice(0, 3));
    const blocked = await runOnce(companyId);
    assert.equal(blocked.status, 'blocked');
    assert.equal((await alertOf(companyId, blocked.runId)).delivered, 2);
    stack.lucca.setUsers(tenant, users);
    const again = await runOnce(companyId);
    assert.equal(again.status, 'succeeded');
    assert.equal((await alertOf(companyId, again.runId)).delivered, 2);
    await recordHistory(stack, 'alert-after-run', companyWorkflowId(companyId));

    const bodies = bodiesAt(path).map((r) => JSON.parse(r.body) as AlertMessage);
    assert.deepEqual(
      bodies.map((b) => [b.event, b.runId, b.code]),
      [
        ['failed', first.runId, 'lucca-unavailable'],
        ['lucca-auth', revoked.runId, 'lucca-auth'],
        ['recovered', recovered.runId, null],
        ['blocked', blocked.runId, blocked.code],
        ['recovered', again.runId, null],
      ],
    );
    assert.equal(refused.filter((r) => r.path === path).length, 2, 'the two refused deliveries were retried');
    const firstAlert = bodies[0]!;
    assert.equal(firstAlert.companyId, companyId);
    assert.equal(firstAlert.outcome, 'failed');
    assert.match(firstAlert.nextStep, /Lucca kept failing/);
    assert.equal(firstAlert.reportUrl, `https://console.platform.example/companies/${companyId}/runs/${first.runId}`);
    assert.match(bodies[1]!.nextStep, /get a new key/);

    for (const r of bodiesAt(path))
      assert.ok(signatureValid(company.secret, r), 'every body is signed with the secret');
    assert.ok(
      !signatureValid('whsec_another-secret', bodiesAt(path)[0]!),
      'a signature checks against its secret only',
    );
    const tampered = { ...bodiesAt(path)[0]!, body: bodiesAt(path)[0]!.body.replace(companyId, 'other') };
    assert.ok(!signatureValid(company.secret, tampered), 'a changed body fails the check');

    const emails = mailsTo(companyId);
    assert.equal(emails.length, 5, 'one email per alert');
    assert.match(emails[0]!.raw, /Subject: \[lucca-sync\] Company co-[0-9a-f]+: sync failed/);
    assert.match(emails[2]!.raw, /sync succeeded again/);

    // Nothing personal and no key in what left: no employee's name or email, not the Lucca key, not the secret.
    const sent = [...bodiesAt(path).map((r) => r.body), ...emails.map((m) => m.raw)].join('\n');
    for (const u of users) {
      assert.ok(!sent.includes(u.mail!), 'no employee email');
      assert.ok(!sent.includes(u.lastName!), 'no employee name');
    }
    assert.ok(!sent.includes(apiKey) && !sent.includes(company.secret));

    const deliveries = await stack.repos.alerts.listDeliveries(companyId, 50);
    assert.equal(deliveries.length, 10);
    const firstHook = deliveries.find((d) => d.alertId === `${companyId}:${first.runId}` && d.kind === 'webhook')!;
    assert.deepEqual([firstHook.status, firstHook.attempts, firstHook.lastResponse], ['delivered', 3, 204]);
    assert.ok(deliveries.every((d) => d.status === 'delivered' && d.deliveredAt instanceof Date));
  });

  test('a receiver that hangs holds neither the next run nor the queue, and gets the alert once it answers', async () => {
    const path = '/hooks/held';
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    holds.set(path, { release, released });
    const { companyId, tenant } = await companyWithTargets(path);
    const down = stack.lucca.addFault({ tenant, times: Infinity, kind: 'status', status: 500 });
    const failed = await runOnce(companyId);
    stack.lucca.removeFault(down);
    // The next run starts and ends while the first run's alert is still being delivered.
    const next = await runOnce(companyId);
    assert.equal(next.status, 'succeeded');
    const pending = await stack.repos.alerts.getDelivery(`${companyId}:${failed.runId}#${await hookId(companyId)}`);
    assert.notEqual(pending?.status, 'delivered', 'the first alert is still on its way');
    // The held attempt times out on the sender's side (and is recorded) before the receiver answers.
    const deliveryId = `${companyId}:${failed.runId}#${await hookId(companyId)}`;
    const deadline = Date.now() + 60_000;
    while (((await stack.repos.alerts.getDelivery(deliveryId))?.attempts ?? 0) < 1) {
      assert.ok(Date.now() < deadline, 'the held attempt did not time out within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    release();
    assert.equal((await alertOf(companyId, failed.runId)).delivered, 2);
    const delivered = await stack.repos.alerts.getDelivery(`${companyId}:${failed.runId}#${await hookId(companyId)}`);
    assert.equal(delivered?.status, 'delivered');
    assert.ok(delivered.attempts >= 2, 'the held attempt timed out and was retried');
  });

  test('a receiver that never accepts is given up at the delivery bound and recorded failed', async () => {
    const path = '/hooks/broken';
    failNext.set(path, Infinity);
    const { companyId, tenant } = await companyWithTargets(path);
    const down = stack.lucca.addFault({ tenant, times: Infinity, kind: 'status', status: 500 });
    const failed = await runOnce(companyId, { deliveryBoundMs: 3_000 });
    stack.lucca.removeFault(down);
    const result = await alertOf(companyId, failed.runId);
    assert.deepEqual([result.delivered, result.failed], [1, 1], 'the email went; the webhook did not');
    const hook = await stack.repos.alerts.getDelivery(`${companyId}:${failed.runId}#${await hookId(companyId)}`);
    assert.equal(hook?.status, 'failed');
    assert.equal(hook?.lastResponse, 503);
    assert.ok(hook.attempts >= 3, `retried until the bound (${hook.attempts} attempts)`);
  });

  test('a test message goes to every target, signed, and leaves the alert state alone', async () => {
    const path = '/hooks/test';
    const { companyId, secret } = await companyWithTargets(path);
    const sent = await sendTestAlert(deps, { companyId });
    const result = (await stack.client.workflow.getHandle(sent.workflowId).result()) as AlertWorkflowResult;
    assert.deepEqual([result.delivered, result.failed], [2, 0]);
    const [hook] = bodiesAt(path);
    assert.ok(hook && signatureValid(secret, hook));
    assert.equal((JSON.parse(hook.body) as AlertMessage).event, 'test');
    assert.match(mailsTo(companyId)[0]!.raw, /test message/);
    assert.equal(await stack.repos.alerts.getState(companyId), null);
    await assert.rejects(addWebhookTarget(deps, { companyId, url: 'http://hooks.example/alerts' }), /https/);
    await assert.rejects(addEmailTarget(deps, { companyId, address: 'not an address' }), /not valid/);
  });

  async function hookId(companyId: string): Promise<string> {
    const company = await stack.repos.companies.get(companyId);
    return company!.alerts!.webhooks[0]!.id;
  }
});
