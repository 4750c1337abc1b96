import type { ChangeIndexRow } from '../db/sync-changes-repository';
import type { ChangeAction } from '../domain/types';

/**
 * Which changes of a run are of which action and reason, in plan order: what the report's filters
 * and pages need, without the changes themselves. Built from one read of the run's changes (seq,
 * action and reason codes only) and kept for finished runs, whose changes no longer change; a page
 * then reads its own 50 changes by `_id`. FerretDB decodes the whole change collection for a
 * filter on a run, so counting and reading one action at a time cost a read of it each (fifteen
 * for a report grouped by action); this costs one per run viewed, and none per page.
 * About 6 bytes a change (a seq, an action, one bit per reason code the run uses).
 */
export interface ChangeIndex {
  runId: string;
  seqs: Int32Array;
  actions: Uint8Array;
  actionNames: ChangeAction[];
  /** Per reason code, one bit per change (by position). */
  reasons: Map<string, Uint8Array>;
  countsByAction: Map<ChangeAction, number>;
  countsByReason: Map<string, number>;
}

export interface ChangeFilter {
  action?: ChangeAction;
  reason?: string;
}

export interface ChangeIndexPage {
  total: number;
  skip: number;
  limit: number;
  seqs: number[];
}

const MAX_RUNS = 10;

export class RunChangeIndex {
  private readonly finished = new Map<string, ChangeIndex>();

  constructor(private readonly opts: { readRows(runId: string): AsyncIterable<ChangeIndexRow>; maxRuns?: number }) {}

  /** The run's index: read once for a finished run, every time for one still running (its changes are still being written). */
  async get(runId: string, finished: boolean): Promise<ChangeIndex> {
    const kept = this.finished.get(runId);
    if (kept) {
      this.finished.delete(runId);
      this.finished.set(runId, kept);
      return kept;
    }
    const index = await buildIndex(runId, this.opts.readRows(runId));
    if (finished) {
      this.finished.set(runId, index);
      for (const key of this.finished.keys()) {
        if (this.finished.size <= (this.opts.maxRuns ?? MAX_RUNS)) break;
        this.finished.delete(key);
      }
    }
    return index;
  }
}

export async function buildIndex(runId: string, rows: AsyncIterable<ChangeIndexRow>): Promise<ChangeIndex> {
  const read: ChangeIndexRow[] = [];
  for await (const row of rows) read.push(row);
  read.sort((a, b) => a.seq - b.seq);
  const n = read.length;
  const seqs = new Int32Array(n);
  const actions = new Uint8Array(n);
  const actionNames: ChangeAction[] = [];
  const reasons = new Map<string, Uint8Array>();
  const countsByAction = new Map<ChangeAction, number>();
  const countsByReason = new Map<string, number>();
  read.forEach((row, i) => {
    seqs[i] = row.seq;
    let a = actionNames.indexOf(row.action);
    if (a < 0) a = actionNames.push(row.action) - 1;
    actions[i] = a;
    countsByAction.set(row.action, (countsByAction.get(row.action) ?? 0) + 1);
    for (const code of new Set((row.reasons ?? []).map((r) => r.code))) {
      let bits = reasons.get(code);
      if (!bits) reasons.set(code, (bits = new Uint8Array(Math.ceil(n / 8))));
      bits[i >> 3]! |= 1 << (i & 7);
      countsByReason.set(code, (countsByReason.get(code) ?? 0) + 1);
    }
  });
  return { runId, seqs, actions, actionNames, reasons, countsByAction, countsByReason };
}

/** The seqs of one page of the changes that pass the filter, in plan order, and how many pass in all. */
export function pageOfChanges(index: ChangeIndex, filter: ChangeFilter, skip: number, limit: number): ChangeIndexPage {
  const action = filter.action === undefined ? -1 : index.actionNames.indexOf(filter.action);
  const bits = filter.reason === undefined ? null : (index.reasons.get(filter.reason) ?? new Uint8Array(0));
  const seqs: number[] = [];
  let total = 0;
  if ((filter.action !== undefined && action < 0) || (bits !== null && bits.length === 0)) {
    return { total, skip, limit, seqs };
  }
  for (let i = 0; i < index.seqs.length; i++) {
    if (action >= 0 && index.actions[i] !== action) continue;
    if (bits && ((bits[i >> 3] ?? 0) & (1 << (i & 7))) === 0) continue;
    if (total >= skip && seqs.length < limit) seqs.push(index.seqs[i]!);
    total++;
  }
  return { total, skip, limit, seqs };
}
