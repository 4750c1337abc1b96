import { companyToday } from './status';
import type { RunKind } from './types';

const HOUR_MS = 60 * 60_000;

/**
 * How far before the last complete read an incremental read asks Lucca to go back. Lucca stamps a
 * change when it is saved, which may be seconds after the edit began, and its clock is not ours;
 * an hour costs a few more users read, never a change missed.
 */
export const MODIFIED_SINCE_MARGIN_MS = HOUR_MS;

/** A full read at least this often (`sync.fullReadEvery`), and at least once a company's local day. */
export const DEFAULT_FULL_READ_EVERY_MS = 24 * HOUR_MS;

/** A complete read the platform applied: where an incremental read can start from. */
export interface AppliedRead {
  kind: 'full' | 'incremental';
  startedAt: Date;
  /** The connection it read with (`connectionId`): another key or URL sees other users. */
  connectionId: string | null;
  /** The name that tenant gave the modification time, when the read saw one. */
  modifiedField?: 'modifiedAt' | 'modifiedOn';
}

export type ReadDecision =
  { kind: 'full'; why: string } | { kind: 'incremental'; since: Date; field: 'modifiedAt' | 'modifiedOn' };

/**
 * What a run asked to be `incremental` reads: only the users modified since its last applied
 * complete read (minus `MODIFIED_SINCE_MARGIN_MS`), unless a full read is due — none applied yet,
 * the connection changed since, the last full read is older than `fullReadEveryMs`, or it was on an
 * earlier local day of the company (the first run of each day reads everyone). Any other kind
 * reads as asked.
 */
export function decideRead(opts: {
  requested: RunKind;
  now: Date;
  timeZone: string;
  connectionId: string | null;
  fullReadEveryMs: number;
  lastApplied: AppliedRead | null;
  lastFull: AppliedRead | null;
}): ReadDecision | { kind: 'dates' | 'one-user' } {
  const { requested, now, lastApplied, lastFull } = opts;
  if (requested !== 'incremental') {
    return requested === 'full' ? { kind: 'full', why: 'asked for' } : { kind: requested };
  }
  if (!lastApplied || !lastFull) return { kind: 'full', why: 'no complete read was applied yet' };
  if (lastApplied.connectionId !== opts.connectionId || lastFull.connectionId !== opts.connectionId) {
    return { kind: 'full', why: 'the Lucca connection changed since the last complete read' };
  }
  if (now.getTime() - lastFull.startedAt.getTime() >= opts.fullReadEveryMs) {
    return { kind: 'full', why: 'the last full read is older than the full-read interval' };
  }
  if (companyToday(opts.timeZone, lastFull.startedAt) < companyToday(opts.timeZone, now)) {
    return { kind: 'full', why: "the first run of the company's day reads everyone" };
  }
  return {
    kind: 'incremental',
    since: new Date(lastApplied.startedAt.getTime() - MODIFIED_SINCE_MARGIN_MS),
    field: lastApplied.modifiedField ?? 'modifiedAt',
  };
}

/**
 * `since` as the date-time sent to Lucca: UTC's wall clock, to the second. Lucca's date-times carry
 * no offset and its tenants are in Europe, whose clocks are at or ahead of UTC: read as a tenant's
 * local time, this names an instant at or before `since` — more users, never fewer.
 */
export function luccaSince(since: Date): string {
  return since.toISOString().slice(0, 19);
}

/** `luccaSince` in the form `modifiedTimeOf` compares (milliseconds). */
export const comparableSince = (since: string): string => `${since}.000`;
