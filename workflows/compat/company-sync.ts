// companySyncWorkflow and the histories earlier versions recorded: one section per change, with
// the day its compatibility code can go. An execution keeps the shape it started with until it
// continues as new, after 100 runs: at one scheduled run a day, 100 days after a version is on
// every worker, unless `temporal workflow list --query 'WorkflowType="companySyncWorkflow" AND
// ExecutionStatus="Running" AND StartTime < "<that deploy>"'` lists none sooner. Then a patch
// becomes `deprecatePatch(<id>)`: the old branch goes, and so do the replay histories of the old
// shape (`test/replay/histories`); the `deprecatePatch` call goes once no execution that recorded
// the marker runs. The dates below assume each version was deployed the day it was committed.

/**
 * Patch `overrides-name-their-run` (2026-12-02): a request lifts the guards only as the override
 * of a blocked run it names; a bare `allowMassDeactivation` is a plain run (it folds with them).
 * Requests recorded before it are sanitised the old way (the `namedOverrides` false branch of
 * `sanitise` in `company-sync.ts`, and `kindOf`'s bare flag).
 * Can go: `deprecatePatch` from 2027-03-12.
 */
export const OVERRIDES_NAME_THEIR_RUN = 'overrides-name-their-run';

/**
 * Patch `remember-request-keys` (2026-12-02): requests carry their caller's key
 * (`SyncNowRequest.requestKey`); a key seen before answers with the request it joined and queues
 * nothing, so a retry — the same update after a lost answer, the signal sent when no worker
 * answered in time, a firing's activity retried — never makes a second run. An execution recorded
 * before it queued such a duplicate, and may have run it. Can go: `deprecatePatch` from 2027-03-12.
 */
export const REMEMBER_REQUEST_KEYS = 'remember-request-keys';

/**
 * Patch `run-kinds` (2026-12-03): requests carry the kind of run they ask for (a schedule firing
 * asks `incremental`, anything else `full` unless it says otherwise; `dates` and `one-user` with its
 * Lucca user), requests of different kinds queue apart, and the run is told its kind. The company's
 * size the run bounds come from is the last full read's (an incremental run sees a few users).
 * Executions recorded before it queue every request as a full read (`kindOf` without a kind).
 * Can go: `deprecatePatch` from 2027-03-13.
 */
export const RUN_KINDS = 'run-kinds';

/**
 * Patch `alert-after-run` (2026-12-03): after each run that is not a dry run, the workflow starts
 * the run's alert workflow (`runAlertWorkflow`, abandoned: never awaited). Executions recorded
 * before it start none. Can go: `deprecatePatch` from 2027-03-13.
 */
export const ALERT_AFTER_RUN = 'alert-after-run';

/*
 * No patch, told by the input's shape: executions from before `PendingSync` (2026-11-28) carried
 * plain requests across continue-as-new (`CompanySyncInput.pending` without `requestId`), which
 * are given an id when queued again. Can go from 2027-03-08.
 */
