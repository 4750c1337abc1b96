import type { PlannedUpdate } from '../db/profiles-repository';
import { COUNTER_OF_ACTION } from '../domain/plan';
import type { PlannedChange, SyncCounts } from '../domain/types';
import type { ProgressWatch } from './progress';

/** Heartbeat details of the apply: where to resume. Positions and counts only. */
export interface ApplyCheckpoint {
  /** The last plan chunk whose writes are all done (its `_id`), null before the first. */
  done: string | null;
  /** Profile writes of the chunks up to `done`. */
  writes: number;
  /** Updates gathered for the next batch. */
  pending: number;
  /** How the chunks up to `done` moved the planned counts: changes the store refused, now conflicts. */
  shifts: CountShifts;
}

/** Amounts to add to planned counts (negative to take away). */
export type CountShifts = Partial<Record<keyof SyncCounts, number>>;

function addShifts(a: CountShifts, b: CountShifts): CountShifts {
  const sum: CountShifts = { ...a };
  for (const [key, n] of Object.entries(b) as [keyof SyncCounts, number][]) sum[key] = (sum[key] ?? 0) + n;
  return sum;
}

/** A planned change that became a conflict: out of its action's count, into the conflicts. */
const conflictShift = (change: PlannedChange): CountShifts =>
  addShifts({ [COUNTER_OF_ACTION[change.action]]: -1 }, { conflicts: 1 });

function applyShifts(counts: SyncCounts, shifts: CountShifts): SyncCounts {
  const moved = { ...counts };
  for (const [key, n] of Object.entries(shifts) as [keyof SyncCounts, number][]) moved[key] += n;
  return moved;
}

/** The apply's resume position; a checkpoint of another shape starts over (every write is idempotent). */
export function applyPosition(details: unknown): ApplyCheckpoint {
  const c = details as Partial<ApplyCheckpoint> | undefined;
  if (c && (typeof c.done === 'string' || c.done === null) && typeof c.writes === 'number') {
    return { done: c.done, writes: c.writes, pending: 0, shifts: c.shifts ?? {} };
  }
  return { done: null, writes: 0, pending: 0, shifts: {} };
}

export const describeCheckpoint = (c: ApplyCheckpoint) =>
  `after plan chunk ${c.done ?? 'none'} (${c.writes} profile writes so far, ${c.pending} updates gathered)`;

/**
 * What the apply has written and moved to conflicts, and the updates it has gathered. Counted in
 * two parts: committed, up to the last chunk whose writes are all done (what a retry resumes
 * after), and in flight, the chunks after it, counted again by a retry.
 */
export class ApplyTally {
  done: string | null;
  writes: number;
  private shifts: CountShifts;
  private flight = { writes: 0, shifts: {} as CountShifts };
  /** The updates gathered from the chunks after `done`, written together as a batch. */
  pending: PlannedUpdate[] = [];
  private gathered: string | null;

  constructor(
    from: ApplyCheckpoint,
    private readonly watch: ProgressWatch<ApplyCheckpoint>,
  ) {
    ({ done: this.done, writes: this.writes, shifts: this.shifts } = from);
    this.gathered = from.done;
  }

  checkpoint(): void {
    const { done, writes, shifts } = this;
    this.watch.checkpoint({ done, writes, pending: this.pending.length, shifts });
  }

  /** Profile writes of the batch in flight. */
  wrote(n: number): void {
    this.flight.writes += n;
  }

  /** Changes the store refused: conflicts now, out of their actions' counts. */
  refused(changes: readonly PlannedChange[]): void {
    for (const change of changes) this.flight.shifts = addShifts(this.flight.shifts, conflictShift(change));
  }

  /** A chunk read: its updates wait for the batch; a chunk with none left waiting is done. */
  gather(chunkId: string, updates: readonly PlannedUpdate[]): void {
    this.pending.push(...updates);
    this.gathered = chunkId;
    if (this.pending.length === 0) this.commit();
  }

  /** The gathered batch is written: every chunk read so far is done. */
  batchWritten(): void {
    this.pending = [];
    this.commit();
  }

  /** The run's counts as planned, moved by what the store refused. */
  countsFrom(planned: SyncCounts): SyncCounts {
    return applyShifts(planned, this.shifts);
  }

  private commit(): void {
    this.done = this.gathered;
    this.writes += this.flight.writes;
    this.shifts = addShifts(this.shifts, this.flight.shifts);
    this.flight = { writes: 0, shifts: {} };
  }
}
