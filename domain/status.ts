import type { ProfileStatus, SyncedFields } from './types';

/**
 * The calendar date of `now` in the company's time zone. Contract dates are local dates, so "has this
 * contract ended?" must be asked of the company's today, not UTC's: at 00:30 in Paris it is still
 * yesterday in UTC. Throws a RangeError for an unknown time zone (a configuration error, not data).
 */
export function companyToday(timeZone: string, now: Date): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(now);
  const part = (type: Intl.DateTimeFormatPartTypes): string => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('year').padStart(4, '0')}-${part('month')}-${part('day')}`;
}

/** `YYYY-MM-DD` strings order like the dates they name, so plain string comparison is enough. */
export function statusFor(fields: Pick<SyncedFields, 'contractStart' | 'contractEnd'>, today: string): ProfileStatus {
  if (fields.contractStart !== null && fields.contractStart > today) return 'upcoming';
  // The end date is the last day worked: the person is still active on it.
  if (fields.contractEnd !== null && fields.contractEnd < today) return 'former';
  return 'active';
}
