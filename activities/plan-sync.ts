import { Context } from '@temporalio/activity';
import { watchProgress } from './progress';
import { RunPlan, type PlanResult, type PlanStep } from './run-plan';
import { runContext, type SyncActivityDeps, type SyncRunRef } from './run-context';

// Compatibility: the read plans as it goes since 2026-11-27; runs whose workflow is older plan in
// this separate activity. It goes with their histories (see `workflows/compat/sync-run.ts`).

export interface PlanInput extends SyncRunRef {
  /** Ignored, as in `ReadInput`. */
  allowMassDeactivation?: boolean;
  /** Plan `removed-from-lucca` deactivations; off when the read saw data move. Default true. */
  detectRemovals?: boolean;
}

/** Heartbeat details of `planSync`: how far it got. Counts only. */
interface PlanCheckpoint {
  step: PlanStep;
  done: number;
}

export function createPlanSync(deps: SyncActivityDeps) {
  const { repos, now, stallTimeoutMs, shutdown, loadCompany, resolveOverride } = runContext(deps);

  /**
   * Plans the staged pages of a run whose read did not plan them (runs started before the read
   * planned as it went), the same way the read does.
   */
  async function planSync({ companyId, runId, detectRemovals = true }: PlanInput): Promise<PlanResult> {
    const ctx = Context.current();
    const describe = (c: PlanCheckpoint) => `step ${c.step}, ${c.done} done`;
    const start: PlanCheckpoint = { step: 'profiles', done: 0 };
    return watchProgress('Planning', start, { stallTimeoutMs, describe, shutdown }, async (watch) => {
      const company = await loadCompany(companyId);
      const { review, override } = await resolveOverride(company, runId);
      const plan = await RunPlan.start({
        repos,
        company,
        runId,
        fresh: ctx.info.attempt === 1,
        now: now(),
        progress: (step, done) => watch.checkpoint({ step, done }),
      });
      await plan.stagedPages();
      return plan.finish({ detectRemovals, review, override });
    });
  }

  return planSync;
}
