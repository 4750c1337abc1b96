import type { SyncChangeDocument } from '../db/sync-changes-repository';
import type { ChangeAction } from '../domain/types';

/**
 * A run's changes as the report filters and pages them: in plan order, with which are of which
 * action and reason, read once and kept for finished runs (whose changes no longer change).
 * FerretDB evaluates no filter on a run in SQL: counting and reading one action at a time cost a
 * decode of the whole change collection each (fifteen for a report grouped by action), and even a
 * lookup by `_id` is a scan of the table in SQL on SQLite (about 0.9 s at 100,000 changes, stopping
 * at the match). So the run is read once (70 s for 100,000 changes on SQLite,
 * docs/benchmarks.md) and its pages come from memory: the changes themselves while the console
 * keeps at most `maxKeptChanges` of them (the least recently used runs go first); past that, a
 * run's index alone (about 6 bytes a change) and a page reads its changes by `_id`.
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
  /** The changes themselves, by position, while the console keeps them (see `maxKeptChanges`). */
  docs: SyncChangeDocument[] | null;
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
  /** Where those changes are in the index (in `docs` when it is kept). */
  positions: number[];
}

const MAX_RUNS = 10;
/** About 50 MB of change documents in memory. */
const MAX_KEPT_CHANGES = 100_000;

export interface RunChangeIndexOptions {
  readRows(runId: string): AsyncIterable<SyncChangeDocument>;
  maxRuns?: number;
  maxKeptChanges?: number;
}

export class RunChangeIndex {
  private readonly finished = new Map<string, ChangeIndex>();

  constructor(private readonly opts: RunChangeIndexOptions) {}

  /** The run's index: read once for a finished run, every time for one still running (its changes are still being written). */
  async get(runId: string, finished: boolean): Promise<ChangeIndex> {
    const kept = this.finished.get(runId);
    if (kept) {
      this.finished.delete(runId);
      this.finished.set(runId, kept);
      return kept;
    }
    const maxKept = this.opts.maxKeptChanges ?? MAX_KEPT_CHANGES;
    const index = await buildIndex(runId, this.opts.readRows(runId), maxKept);
    if (finished) {
      this.finished.set(runId, index);
      let keptChanges = 0;
      for (const i of this.finished.values()) keptChanges += i.docs?.length ?? 0;
      for (const [key, old] of this.finished) {
        if (this.finished.size <= (this.opts.maxRuns ?? MAX_RUNS) && keptChanges <= maxKept) break;
        if (key === runId) continue;
        keptChanges -= old.docs?.length ?? 0;
        this.finished.delete(key);
      }
    }
    return index;
  }
}

export async function buildIndex(
  runId: string,
  rows: AsyncIterable<SyncChangeDocument>,
  maxKeptChanges = MAX_KEPT_CHANGES,
): Promise<ChangeIndex> {
  const read: SyncChangeDocument[] = [];
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
  const docs = n <= maxKeptChanges ? read : null;
  return { runId, seqs, actions, actionNames, reasons, countsByAction, countsByReason, docs };
}

/** The seqs of one page of the changes that pass the filter, in plan order, and how many pass in all. */
export function pageOfChanges(index: ChangeIndex, filter: ChangeFilter, skip: number, limit: number): ChangeIndexPage {
  const action = filter.action === undefined ? -1 : index.actionNames.indexOf(filter.action);
  const bits = filter.reason === undefined ? null : (index.reasons.get(filter.reason) ?? new Uint8Array(0));
  const seqs: number[] = [];
  const positions: number[] = [];
  let total = 0;
  if ((filter.action !== undefined && action < 0) || (bits !== null && bits.length === 0)) {
    return { total, skip, limit, seqs, positions };
  }
  for (let i = 0; i < index.seqs.length; i++) {
    if (action >= 0 && index.actions[i] !== action) continue;
    if (bits && ((bits[i >> 3] ?? 0) & (1 << (i & 7))) === 0) continue;
    if (total >= skip && seqs.length < limit) {
      seqs.push(index.seqs[i]!);
      positions.push(i);
    }
    total++;
  }
  return { total, skip, limit, seqs, positions };
}
