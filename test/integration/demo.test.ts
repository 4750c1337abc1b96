import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { MongoClient } from 'mongodb';
import { companyWorkflowId, scheduleId, sweepScheduleId } from '../../temporal/ids';
import { stackSettings } from '../../dev-tools/stack/stack';
import { MONGODB_URI, TEMPORAL_ADDRESS, uniqueSuffix } from './helpers';

const DEMO = path.join(import.meta.dirname, '..', '..', 'dev-tools', 'demo.ts');
const CLI = path.join(import.meta.dirname, '..', '..', 'scripts', 'cli.ts');

describe('npm run demo, as CI runs it', () => {
  const suffix = uniqueSuffix();
  const companyId = `demo-${suffix}`;
  const database = `test_demo_${suffix}`;
  const taskQueue = `test-demo-${suffix}`;

  after(async () => {
    const connection = await Connection.connect({ address: TEMPORAL_ADDRESS });
    const client = new Client({ connection });
    await client.schedule
      .getHandle(scheduleId(companyId))
      .delete()
      .catch(() => undefined);
    await client.workflow
      .getHandle(companyWorkflowId(companyId))
      .terminate('test over')
      .catch(() => undefined);
    // The demo's worker creates the sweeper's schedule of its task queue.
    await client.schedule
      .getHandle(sweepScheduleId(taskQueue))
      .delete()
      .catch(() => undefined);
    await connection.close();
    const mongo = await MongoClient.connect(MONGODB_URI);
    await mongo.db(database).dropDatabase();
    await mongo.close();
  });

  test('reaches "first sync succeeded" with a small company, attaches the pre-existing profiles, prints the report and the UI link, then exits 0', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'lucca-sync-demo-'));
    const settingsFile = path.join(dir, 'demo.env');
    try {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          DEMO,
          '--ci',
          '--size',
          '300',
          '--preexisting',
          '12',
          '--company',
          companyId,
          '--settings',
          settingsFile,
        ],
        {
          // No TTY and no stdin, as on a CI runner.
          stdio: ['ignore', 'pipe', 'pipe'],
          env: {
            ...process.env,
            CI: 'true',
            TEMPORAL_ADDRESS,
            MONGODB_URI,
            MONGODB_DB: database,
            TASK_QUEUE: taskQueue,
          },
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

      assert.equal(code, 0, `${stdout}\n${stderr}`);
      assert.match(stdout, /First sync succeeded/);
      assert.match(stdout, /seen 300 · created \d+ · linked 12 /);
      assert.match(stdout, /^create \(\d+\)$/m);
      assert.match(stdout, /^link \(12\)$/m);
      assert.ok(
        stdout.includes(
          `http://localhost:${stackSettings().temporalUiPort}/namespaces/default/workflows?query=${encodeURIComponent(`CompanyId="${companyId}"`)}`,
        ),
      );
      assert.match(stdout, /temporal workflow signal .*--name syncNow/);

      // The commands it prints work from its settings file alone.
      const status = await new Promise<string>((resolve) => {
        let out = '';
        const cli = spawn(process.execPath, ['--import', 'tsx', CLI, '--settings', settingsFile, 'status', '--json'], {
          stdio: ['ignore', 'pipe', 'inherit'],
          env: { PATH: process.env.PATH, HOME: process.env.HOME },
        });
        cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
        cli.on('close', () => resolve(out));
      });
      const companies = JSON.parse(status) as { companyId: string; lastRun: { status: string } }[];
      assert.deepEqual(
        companies.map((c) => [c.companyId, c.lastRun.status]),
        [[companyId, 'succeeded']],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
