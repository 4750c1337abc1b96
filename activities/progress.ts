import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { failureType } from '../domain/failures';

/** How long an activity may go without progress before its attempt fails (SYNC_STALL_TIMEOUT_MS). */
export const DEFAULT_STALL_TIMEOUT_MS = 5 * 60_000;
const HEARTBEAT_EVERY_MS = 5_000;

export interface ProgressWatch<C> {
  /** Records progress: resets the stall clock and heartbeats the checkpoint (ids, offsets, counts only). */
  checkpoint(c: C): void;
  /** Aborted when the attempt is given up as stalled (or cancelled): pass it to whatever can stop. */
  signal: AbortSignal;
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
 */
export async function watchProgress<C, T>(
  what: string,
  initial: C,
  opts: { stallTimeoutMs: number; describe: (c: C) => string },
  fn: (watch: ProgressWatch<C>) => Promise<T>,
): Promise<T> {
  const ctx = Context.current();
  let latest = initial;
  let movedAt = Date.now();
  ctx.heartbeat(latest);
  let timer: NodeJS.Timeout | undefined;
  let failed: ApplicationFailure | undefined;
  const stop = new AbortController();
  const stalled = new Promise<never>((_, reject) => {
    timer = setInterval(
      () => {
        const idleMs = Date.now() - movedAt;
        if (idleMs < opts.stallTimeoutMs) {
          ctx.heartbeat(latest);
          return;
        }
        failed = ApplicationFailure.create({
          type: failureType('stalled'),
          message:
            `${what} made no progress for ${Math.round(idleMs / 1000)} s and was stopped at ` +
            `${opts.describe(latest)}; Temporal retries it from there.`,
          nonRetryable: false,
        });
        clearInterval(timer);
        stop.abort(failed);
        reject(failed);
      },
      Math.min(HEARTBEAT_EVERY_MS, Math.max(100, Math.floor(opts.stallTimeoutMs / 4))),
    );
  });
  const work = fn({
    signal: AbortSignal.any([stop.signal, ctx.cancellationSignal]),
    checkpoint(c) {
      // The stuck step came back after its attempt was given up: stop here, the retry owns the run now.
      if (failed) throw failed;
      // The run was cancelled (offboarding): stop at this checkpoint — every write so far is
      // idempotent, and the run's finish completes a journaled rewrite and drops its working data.
      // Only a cancellation Temporal asked for: at worker shutdown the attempt fails and is retried.
      if (ctx.cancellationDetails?.cancelRequested) throw ctx.cancellationSignal.reason;
      latest = c;
      movedAt = Date.now();
      ctx.heartbeat(c);
    },
  });
  // Once the attempt has failed as stalled, a late rejection of the stuck operation is not news.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, stalled]);
  } finally {
    clearInterval(timer);
  }
}
