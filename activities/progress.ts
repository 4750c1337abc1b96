import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { failureType } from '../domain/failures';
import { formatBound } from '../domain/run-bounds';

/** How long an activity may go without progress before its attempt fails (SYNC_STALL_TIMEOUT_MS). */
export const DEFAULT_STALL_TIMEOUT_MS = 5 * 60_000;
const HEARTBEAT_EVERY_MS = 5_000;
/** Node's timers take at most this (about 24.8 days); a longer delay would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ProgressWatch<C> {
  /**
   * Records progress: resets the stall clock and heartbeats the checkpoint (ids, offsets, counts
   * only). Throws when the activity must stop here: cancelled, given up as stalled, or its worker
   * shutting down (after heartbeating this checkpoint, so the retry resumes from it).
   */
  checkpoint(c: C): void;
  /** Aborted when the attempt is given up (stalled, cancelled, worker shut down): pass it to whatever can stop. */
  signal: AbortSignal;
}

/**
 * The worker process's notice that it is shutting down (SIGTERM, a deploy). Temporal's own
 * notice — the activity's cancellation with `workerShutdown` — only comes once the worker's
 * shutdown grace time is over: too late to stop at a checkpoint and still exit within it.
 */
export interface ShutdownNotice {
  /** Aborted when the worker starts shutting down. */
  signal: AbortSignal;
  /**
   * How long an activity has, from then, to reach its next checkpoint; past it the attempt fails
   * anyway at its last checkpoint (what is in flight is aborted if it can be), so the worker exits
   * within its grace time even when a step is stuck.
   */
  drainMs: number;
}

/**
 * Runs `fn` with heartbeats that carry its latest checkpoint, and fails the attempt when the
 * checkpoint has not moved for `stallTimeoutMs`.
 *
 * Heartbeating on a timer alone would keep a stuck activity alive forever (a store that stopped
 * answering, a request that never returns): the heartbeat timeout never fires and nothing retries.
 * Here the timer only relays the last checkpoint while it is fresh; once stale, the attempt fails
 * with a retryable failure that says where it stopped, and Temporal retries it from that checkpoint.
 * The stuck operation cannot be aborted from here; if it ever returns, its next checkpoint throws,
 * so it stops before doing more beside the retry.
 *
 * When the worker shuts down, the step in flight (a page, a write command) finishes, its
 * checkpoint is heartbeated, and the attempt fails as retryable (`worker-shutdown`): Temporal
 * retries it at once on another worker, from that checkpoint, instead of after the heartbeat
 * timeout. A step that does not come back within `shutdown.drainMs` is given up the same way.
 */
export async function watchProgress<C, T>(
  what: string,
  initial: C,
  opts: { stallTimeoutMs: number; describe: (c: C) => string; shutdown?: ShutdownNotice },
  fn: (watch: ProgressWatch<C>) => Promise<T>,
): Promise<T> {
  const ctx = Context.current();
  let latest = initial;
  let movedAt = Date.now();
  ctx.heartbeat(latest);
  let drainTimer: NodeJS.Timeout | undefined;
  let boundTimer: NodeJS.Timeout | undefined;
  let failed: Error | undefined;
  const stop = new AbortController();
  let reject!: (failure: Error) => void;
  const givenUp = new Promise<never>((_, r) => (reject = r));
  const giveUp = (failure: Error) => {
    if (failed !== undefined) return;
    failed = failure;
    clearInterval(timer);
    clearTimeout(drainTimer);
    clearTimeout(boundTimer);
    stop.abort(failure);
    reject(failure);
  };
  const shutdownFailure = (detail: string) =>
    ApplicationFailure.create({
      type: failureType('worker-shutdown'),
      message: `${what} stopped at ${opts.describe(latest)} because its worker is shutting down${detail}; Temporal retries it from there on another worker.`,
      nonRetryable: false,
    });
  // Temporal's word. Once the grace time is over, whatever is still running is given up now. An
  // attempt Temporal has already given up itself (its heartbeat timed out, or it was reset or
  // paused) has a retry of its own somewhere: it stops at once, freeing its slot, and writes nothing
  // more. Only a cancellation asked for (offboarding) lets the step in flight end first, as the run
  // waits for the activity to have stopped before it finishes.
  const cancelled = () => {
    const details = ctx.cancellationDetails;
    if (details?.workerShutdown) giveUp(shutdownFailure(' (its grace time is over)'));
    else if (!details?.cancelRequested) {
      const reason: unknown = ctx.cancellationSignal.reason;
      giveUp(reason instanceof Error ? reason : new CancelledFailure(String(reason)));
    }
  };
  const draining = () => {
    const drainMs = opts.shutdown?.drainMs ?? 0;
    drainTimer = setTimeout(
      () => giveUp(shutdownFailure(` (the step in flight did not end within ${drainMs / 1000} s)`)),
      drainMs,
    );
  };
  const shuttingDown = () => opts.shutdown?.signal.aborted === true || ctx.cancellationDetails?.workerShutdown === true;

  const timer = setInterval(
    () => {
      const idleMs = Date.now() - movedAt;
      if (idleMs < opts.stallTimeoutMs) {
        ctx.heartbeat(latest);
        return;
      }
      giveUp(
        ApplicationFailure.create({
          type: failureType('stalled'),
          message:
            `${what} made no progress for ${Math.round(idleMs / 1000)} s and was stopped at ` +
            `${opts.describe(latest)}; Temporal retries it from there.`,
          nonRetryable: false,
        }),
      );
    },
    Math.min(HEARTBEAT_EVERY_MS, Math.max(100, Math.floor(opts.stallTimeoutMs / 4))),
  );
  // Past its schedule-to-close bound (the run's, from the company's size) Temporal has failed the
  // activity already, and the run finishes without it: stop what is in flight rather than write
  // into working data the run's finish drops.
  const { scheduledTimestampMs, scheduleToCloseTimeoutMs } = ctx.info;
  const boundLeftMs = scheduledTimestampMs + scheduleToCloseTimeoutMs - Date.now();
  if (scheduleToCloseTimeoutMs > 0 && boundLeftMs > 0 && boundLeftMs < MAX_TIMER_MS) {
    boundTimer = setTimeout(
      () =>
        giveUp(
          ApplicationFailure.create({
            type: failureType('run-too-long'),
            message: `${what} ran past its bound of ${formatBound(scheduleToCloseTimeoutMs)} and was stopped at ${opts.describe(latest)}.`,
            nonRetryable: true,
          }),
        ),
      boundLeftMs,
    );
  }
  // Cancelled before it got here (its first store commands come before the first heartbeat).
  if (ctx.cancellationSignal.aborted) cancelled();
  else ctx.cancellationSignal.addEventListener('abort', cancelled);
  if (opts.shutdown?.signal.aborted) draining();
  else opts.shutdown?.signal.addEventListener('abort', draining);

  const watch: ProgressWatch<C> = {
    signal: AbortSignal.any([stop.signal, ctx.cancellationSignal]),
    checkpoint(c) {
      // The step came back after its attempt was given up: stop here, the retry owns the run now.
      if (failed !== undefined) throw failed;
      // The run was cancelled (offboarding): stop at this checkpoint — every write so far is
      // idempotent, and the run's finish completes a journaled rewrite and drops its working data.
      if (ctx.cancellationDetails?.cancelRequested) throw ctx.cancellationSignal.reason;
      latest = c;
      movedAt = Date.now();
      ctx.heartbeat(c);
      // Everything up to this checkpoint is written and heartbeated: the retry starts from here.
      if (shuttingDown()) {
        const failure = shutdownFailure('');
        giveUp(failure);
        throw failure;
      }
    },
  };
  // An attempt given up before it began does nothing (the retry owns the run).
  const work = failed !== undefined ? Promise.reject(failed) : fn(watch);
  // Once the attempt has been given up, a late rejection of the stuck operation is not news.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, givenUp]);
  } finally {
    clearInterval(timer);
    clearTimeout(drainTimer);
    clearTimeout(boundTimer);
    ctx.cancellationSignal.removeEventListener('abort', cancelled);
    opts.shutdown?.signal.removeEventListener('abort', draining);
  }
}
