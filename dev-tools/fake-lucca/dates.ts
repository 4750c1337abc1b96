// Calendar dates are `YYYY-MM-DD` strings throughout the fake. Arithmetic runs in UTC so that no
// time zone or DST change can shift a day; only "what is today here" reads the local clock.

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_PREFIX = /^(\d{4}-\d{2}-\d{2})(?:$|T)/;
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?$/;

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

export function isCalendarDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

export function addDays(date: string, days: number): string {
  const m = DATE.exec(date);
  if (!m) throw new Error(`not a YYYY-MM-DD date: ${date}`);
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + days));
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** The date part of a stored Lucca value (`1989-12-22T00:00:00` → `1989-12-22`), or null if it is not a valid date. */
export function datePart(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const m = DATE_PREFIX.exec(value);
  return m?.[1] !== undefined && isCalendarDate(m[1]) ? m[1] : null;
}

/**
 * A date or date-time brought to one fixed-width shape (`YYYY-MM-DDTHH:MM:SS.fffffff`) so that
 * string comparison is chronological; null if unparseable.
 */
export function comparableDateTime(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const m = DATE_TIME.exec(value);
  if (!m?.[1] || !isCalendarDate(m[1])) return null;
  return `${m[1]}T${m[2] ?? '00'}:${m[3] ?? '00'}:${m[4] ?? '00'}.${(m[5] ?? '').padEnd(7, '0')}`;
}

export function localDate(now: Date = new Date()): string {
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

export function localTime(now: Date = new Date()): string {
  return `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
}

/** A Lucca date-time on the local clock, to the millisecond (`2026-12-03T09:15:02.123`), as `modifiedAt`. */
export function localDateTime(now: Date = new Date()): string {
  return `${localDate(now)}T${localTime(now)}.${pad(now.getMilliseconds(), 3)}`;
}

/** Lucca's wire format for a date-only value. */
export function luccaDate(date: string): string {
  return `${date}T00:00:00`;
}
