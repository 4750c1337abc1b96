import { ActivityCancellationType } from '@temporalio/workflow';

// syncRunWorkflow and the histories earlier versions recorded: one section per change, with the
// day its compatibility code can go. A run lasts minutes (its read and apply give up after two
// hours), so a day after every worker runs a version, no run of the shape before it is in flight.
// Its patch then becomes `deprecatePatch(<id>)`: the old branch goes, and so do the replay
// histories of the old shape (`test/replay/histories`, whose names carry their date); the
// `deprecatePatch` call goes a day after that version is everywhere in turn. The dates below
// assume each version was deployed the day it was committed.

/**
 * Patch `run-outcome-visible` (2026-11-28): runs show how they ended in the Temporal UI — the
 * `SyncOutcome` search attribute, and a failed run fails its workflow. Runs recorded before it
 * completed whatever their outcome. Can go: `deprecatePatch` from 2026-11-29.
 */
export const OUTCOME_VISIBLE = 'run-outcome-visible';

/**
 * Patch `wait-for-cancelled-activities` (2026-11-28): a cancelled run (offboarding) waits for its
 * read or apply to stop at its next checkpoint before it finishes, as the finish drops the working
 * data that activity is using. Runs recorded before it did not wait (the SDK's default,
 * try-cancel). Can go: `deprecatePatch` from 2026-11-29.
 */
export const WAIT_FOR_CANCELLED_ACTIVITIES = 'wait-for-cancelled-activities';

/** How a run's read and apply are cancelled: see `WAIT_FOR_CANCELLED_ACTIVITIES`. */
export function cancellationTypeOf(waitForCancelled: boolean): ActivityCancellationType {
  return waitForCancelled ? ActivityCancellationType.WAIT_CANCELLATION_COMPLETED : ActivityCancellationType.TRY_CANCEL;
}

/**
 * Patch `start-run-in-scope` (2026-12-02): the run's start (`startSyncRun`) is inside the scope
 * whose cancellation the run records, so a run cancelled there ends `failed`, code `cancelled`,
 * like one cancelled while reading. Runs recorded before started outside it, and a cancellation
 * there left their run `running` for the sweeper. Can go: `deprecatePatch` from 2026-12-03.
 */
export const START_IN_SCOPE = 'start-run-in-scope';

/**
 * Patch `run-kinds` (2026-12-03): a run reads as its kind says (`full`, `incremental`, `dates`,
 * `one-user`), tells its start and its read so, and shows what it read in the `SyncKind` search
 * attribute. Runs recorded before it read in full and set no such attribute. Can go:
 * `deprecatePatch` from 2026-12-04.
 */
export const RUN_KINDS = 'run-kinds';

/*
 * No patch, told by the shape of an activity's result:
 * - The read plans as it goes (2026-11-27); a history from before has no `plan` in the read's
 *   result, and a separate `planSync` activity (`activities/plan-sync.ts`), which replays as it ran.
 *   Can go once no history of that shape is kept for replay (`sync-run.binpb`), with `planSync`.
 * - The apply returns the counts the store acknowledged (2026-12-02); a history from before
 *   carries none and replays with the plan's (`applied.counts ?? plan.counts`). Can go with the
 *   histories of 2026-11-28.
 */
