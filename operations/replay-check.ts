import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import protos from '@temporalio/proto';
import { Worker, type ReplayWorkerOptions } from '@temporalio/worker';

type History = protos.temporal.api.history.v1.IHistory;

/** One workflow execution replayed: who it is, and why it failed to replay (null when it replayed). */
export interface ReplayCheckLine {
  workflowId: string;
  runId: string;
  workflowType: string;
  /** `Running`, `Completed`, `Failed`…; for a fixture file, its name. */
  status: string;
  /** The SDK's error name (`DeterminismViolationError`, `ReplayError`) and message; null when it replayed. */
  failure: { name: string; message: string } | null;
}

export interface ReplayCheckSummary {
  checked: number;
  failed: number;
  /** True when `limit` executions were checked and more may have matched. */
  limited: boolean;
}

/** What to replay against: the workflows of this checkout (`workflowsPath`), or a bundle already made. */
export type ReplayCode = Pick<ReplayWorkerOptions, 'workflowsPath' | 'workflowBundle'>;

/**
 * The executions to check on a task queue: every one still running, and every one closed since
 * `since`. Newest first (the server's order), as the visibility store lists them.
 */
export function replayCheckQuery(taskQueue: string, since: Date): string {
  return `TaskQueue = '${taskQueue.replaceAll("'", "\\'")}' AND (ExecutionStatus = 'Running' OR CloseTime >= '${since.toISOString()}')`;
}

interface Listed {
  workflowId: string;
  runId: string;
  workflowType: string;
  status: string;
}

/**
 * Replays the histories of a namespace's live and recently closed workflows of one task queue
 * against the given workflow code, one execution at a time (listed a page at a time, each history
 * downloaded as it is replayed): what an operator runs before a deploy. Calls `report` once per
 * execution, in the order listed, and stops after `limit`.
 */
export async function replayCheckNamespace(
  client: Client,
  code: ReplayCode,
  opts: { taskQueue: string; since: Date; limit: number; pageSize?: number },
  report: (line: ReplayCheckLine) => void,
): Promise<ReplayCheckSummary> {
  const listed: Listed[] = [];
  let limited = false;
  async function* histories() {
    const executions = client.workflow.list({
      query: replayCheckQuery(opts.taskQueue, opts.since),
      pageSize: opts.pageSize ?? 100,
    });
    for await (const execution of executions) {
      if (listed.length >= opts.limit) {
        limited = true;
        return;
      }
      const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      listed.push({
        workflowId: execution.workflowId,
        runId: execution.runId,
        workflowType: execution.type,
        status: execution.status.name,
      });
      yield { workflowId: execution.workflowId, history };
    }
  }
  const summary = await replayEach(code, histories(), listed, report);
  return { ...summary, limited };
}

/** Replays committed fixture files (`*.binpb`, binary protobuf histories) of a directory: what CI runs. */
export async function replayCheckFiles(
  code: ReplayCode,
  dir: string,
  report: (line: ReplayCheckLine) => void,
): Promise<ReplayCheckSummary> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.binpb')).sort();
  const listed: Listed[] = [];
  async function* histories() {
    for (const file of files) {
      const history = protos.temporal.api.history.v1.History.decode(await readFile(path.join(dir, file)));
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      listed.push({
        workflowId: file,
        runId: started?.originalExecutionRunId ?? '',
        workflowType: started?.workflowType?.name ?? '?',
        status: 'fixture',
      });
      yield { workflowId: file, history };
    }
  }
  return { ...(await replayEach(code, histories(), listed, report)), limited: false };
}

async function replayEach(
  code: ReplayCode,
  histories: AsyncIterable<{ workflowId: string; history: History }>,
  listed: Listed[],
  report: (line: ReplayCheckLine) => void,
): Promise<Omit<ReplayCheckSummary, 'limited'>> {
  let checked = 0;
  let failed = 0;
  // The replayer takes the histories in order, one at a time: its n-th result is the n-th listed.
  for await (const result of Worker.runReplayHistories(code, histories)) {
    const meta = listed[checked]!;
    checked += 1;
    const failure = result.error ? { name: result.error.name, message: firstLine(result.error.message) } : null;
    if (failure) failed += 1;
    report({ ...meta, failure });
  }
  return { checked, failed };
}

/**
 * The reason in one line: the core SDK's own message when the error wraps one (`[TMPRL1100]
 * Nondeterminism error: Activity type of scheduled event 'x' does not match …`), else the first line.
 */
function firstLine(message: string): string {
  const inner = /message: "((?:[^"\\]|\\.)*)"/.exec(message)?.[1];
  return (inner ?? message.split('\n')[0]!).slice(0, 500);
}

/** One line of `replay-check`'s output. */
export function formatReplayLine(line: ReplayCheckLine): string {
  const what = `${line.workflowId} (${line.workflowType}, run ${line.runId}, ${line.status})`;
  return line.failure ? `FAIL ${what}: ${line.failure.name}: ${line.failure.message}` : `ok   ${what}`;
}
