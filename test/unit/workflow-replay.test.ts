import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import protos from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../workers/worker';

/**
 * Committed histories of real runs, one per workflow shape released, replayed against today's
 * workflow code: a change that would break running workflows (non-determinism) fails here. A
 * fixture is never refreshed or removed while a run of its shape can still be in flight: a
 * deliberate change is versioned with `patched()` and its new shape recorded beside the old ones,
 * `RECORD_HISTORIES=1 npx tsx dev-tools/run-stack-tests.ts integration company-sync offboard sync-scenarios`
 * (files `<workflow type>-<date>-<what>.binpb`; existing ones are kept).
 */
const HISTORIES = path.join(import.meta.dirname, '..', 'replay', 'histories');

async function fixtures(): Promise<string[]> {
  return (await readdir(HISTORIES)).filter((f) => f.endsWith('.binpb')).sort();
}

async function history(file: string) {
  return protos.temporal.api.history.v1.History.decode(await readFile(path.join(HISTORIES, file)));
}

describe('workflow replay', async () => {
  // ERROR: the broken replay below makes the SDK warn of the failing workflow task it expects.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const bundle = bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
  const files = await fixtures();

  test('every shape of the company and run workflows has a recorded history', () => {
    const typeOf = (f: string) =>
      f.startsWith('company-sync') || f.startsWith('companySyncWorkflow')
        ? 'company'
        : f.startsWith('sync-run') || f.startsWith('syncRunWorkflow')
          ? 'run'
          : 'other';
    assert.ok(files.filter((f) => typeOf(f) === 'company').length >= 2, files.join(', '));
    assert.ok(files.filter((f) => typeOf(f) === 'run').length >= 2, files.join(', '));
  });

  for (const file of files) {
    test(`the recorded history ${file} replays without non-determinism`, async () => {
      const recorded = await history(file);
      assert.ok((recorded.events?.length ?? 0) > 5, 'the fixture holds a real history');
      await Worker.runReplayHistory({ workflowBundle: await bundle }, recorded);
    });
  }

  test('a change that breaks a recorded history is caught', async () => {
    const changed = await bundleWorkflowCode({
      workflowsPath: path.join(import.meta.dirname, '..', 'replay', 'changed-workflows.ts'),
      logger: new DefaultLogger('WARN'),
    });
    const run = files.find((f) => f.startsWith('sync-run') || f.startsWith('syncRunWorkflow'))!;
    await assert.rejects(
      Worker.runReplayHistory({ workflowBundle: changed }, await history(run)),
      (err: Error) => err.name === 'DeterminismViolationError',
    );
  });
});
