import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import protos from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../workers/worker';

/**
 * Committed histories of real runs, replayed against today's workflow code: a change that would
 * break running workflows (non-determinism) fails here. Refresh them with
 * `RECORD_HISTORIES=1 npx tsx scripts/run-stack-tests.ts integration company` when a change is deliberate
 * (and versioned with patched()).
 */
const HISTORIES = path.join(import.meta.dirname, '..', 'replay', 'histories');

describe('workflow replay', () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const bundle = bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });

  for (const [file, workflowId] of [
    ['company-sync.binpb', 'company-sync:'],
    ['sync-run.binpb', 'sync-run:'],
  ] as const) {
    test(`a recorded ${file.replace('.binpb', '')} history replays without non-determinism`, async () => {
      const history = protos.temporal.api.history.v1.History.decode(await readFile(path.join(HISTORIES, file)));
      assert.ok((history.events?.length ?? 0) > 5, 'the fixture holds a real history');
      await Worker.runReplayHistory({ workflowBundle: await bundle }, history, `${workflowId}replay`);
    });
  }
});
