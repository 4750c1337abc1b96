const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** Never more often than every 4 hours (Lucca's rate limit is shared with the company's other tools). */
export const MIN_EVERY_MS = 4 * HOUR_MS;
/** A sync less often than weekly would leave leavers with benefits for too long to be a sensible setting. */
export const MAX_EVERY_MS = 7 * DAY_MS;

const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$/;

export type ParseEveryResult = { ok: true; ms: number } | { ok: false; message: string };

/** Parses `sync.every`: days, hours and minutes in that order (`4h`, `1d`, `90m`, `6h30m`, `1d12h`). */
export function parseEvery(text: string): ParseEveryResult {
  const match = DURATION.exec(text.trim());
  if (!match || match.slice(1).every((part) => part === undefined)) {
    return { ok: false, message: 'sync.every must be a duration such as 4h, 24h, 1d, 90m or 6h30m' };
  }
  const [, days = '0', hours = '0', minutes = '0'] = match;
  const ms = Number(days) * DAY_MS + Number(hours) * HOUR_MS + Number(minutes) * MINUTE_MS;
  if (ms < MIN_EVERY_MS) return { ok: false, message: 'sync.every must be at least 4h' };
  if (!Number.isFinite(ms) || ms > MAX_EVERY_MS) return { ok: false, message: 'sync.every must be at most 7d' };
  return { ok: true, ms };
}
