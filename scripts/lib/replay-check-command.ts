import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../../config/env';
import { parseSince } from '../../operations/audit';
import { BUILT_WORKFLOW_BUNDLE_PATH, RUNNING_COMPILED, WORKFLOWS_PATH } from '../../temporal/workflow-code';
import {
  formatReplayLine,
  replayCheckFiles,
  replayCheckNamespace,
  type ReplayCheckSummary,
  type ReplayCode,
} from '../../operations/replay-check';

/** What a worker of this checkout runs: the build's bundle when compiled, the workflows' sources otherwise. */
const THIS_CODE: ReplayCode = RUNNING_COMPILED
  ? { workflowBundle: { codePath: BUILT_WORKFLOW_BUNDLE_PATH } }
  : { workflowsPath: WORKFLOWS_PATH };

/** `replay-check`'s exit code when a history does not replay (1 is any other error). */
export const EXIT_NOT_REPLAYING = 4;

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/**
 * `replay-check`: replays the histories of the running and recently closed workflows of the
 * configured namespace and task queue (or of a directory of recorded fixtures) against the
 * workflow code, and says which would break. Run it before a deploy, with `--workflows` naming
 * the code about to be deployed.
 */
export function replayCheckCommand(): Command {
  return new Command('replay-check')
    .description(
      'Replay the histories of running and recently closed workflows of the namespace (task queue TASK_QUEUE) against the workflow code; exit 4 naming each workflow that would break',
    )
    .option('--since <when>', 'closed workflows since a date, a date-time or a duration ago (24h, 7d)', '7d')
    .option('--limit <n>', 'at most this many executions, newest first', positiveInteger, 1000)
    .option('--workflows <path>', "the workflows' entry file to replay against (default: this checkout's)")
    .option('--histories <dir>', 'replay the recorded histories (*.binpb) of a directory instead of the namespace')
    .addHelpText(
      'after',
      '\nExamples:\n  npm run cli -- replay-check --since 2d\n  npm run cli -- replay-check --workflows ../next-release/workflows/index.ts\n  npm run cli -- replay-check --histories test/replay/histories',
    )
    .action(async (opts: { since: string; limit: number; workflows?: string; histories?: string }) => {
      const since = parseSince(opts.since);
      // A history that breaks makes the replayer log its failed workflow task at length: its line
      // below says it in one sentence (LOG_LEVEL=debug shows the SDK's log too).
      const debug = process.env.LOG_LEVEL === 'debug';
      Runtime.install({
        logger: debug ? new DefaultLogger('WARN') : new DefaultLogger('ERROR', () => undefined),
        telemetryOptions: { logging: { filter: { core: debug ? 'WARN' : 'ERROR' }, forward: {} } },
      });
      const code: ReplayCode = opts.workflows ? { workflowsPath: path.resolve(opts.workflows) } : THIS_CODE;
      const print = (line: Parameters<typeof formatReplayLine>[0]) => console.log(formatReplayLine(line));
      let summary: ReplayCheckSummary;
      let where: string;
      if (opts.histories) {
        where = `recorded histories in ${opts.histories}`;
        summary = await replayCheckFiles(code, opts.histories, print);
      } else {
        const config = loadConfig();
        const address = config.temporal.connectionOptions.address;
        const connection = await Connection.connect({ ...config.temporal.connectionOptions, connectTimeout: 10_000 });
        try {
          const client = new Client({ connection, namespace: config.temporal.namespace });
          where = `namespace ${config.temporal.namespace} at ${address}, task queue ${config.TASK_QUEUE}, running or closed since ${since.toISOString()}`;
          summary = await replayCheckNamespace(
            client,
            code,
            { taskQueue: config.TASK_QUEUE, since, limit: opts.limit },
            print,
          );
        } finally {
          await connection.close().catch(() => undefined);
        }
      }
      const limited = summary.limited ? ` (stopped at --limit ${opts.limit}; more may match)` : '';
      console.log(
        `${summary.checked} workflow histories replayed from ${where}${limited}: ` +
          (summary.failed === 0 ? 'all replay.' : `${summary.failed} would break with this code.`),
      );
      if (summary.failed > 0) process.exitCode = EXIT_NOT_REPLAYING;
    });
}
