import { setWorkflowOptions } from '@temporalio/workflow';
import { runAlertWorkflow } from './alert';
import { companySyncWorkflow } from './company-sync';
import { scheduledSyncWorkflow } from './scheduled-sync';
import { syncRunWorkflow } from './sync-run';
import { syncSweepWorkflow } from './sweep';

export { companySyncWorkflow, runAlertWorkflow, scheduledSyncWorkflow, syncRunWorkflow, syncSweepWorkflow };

// With worker versioning on (WORKER_DEPLOYMENT_NAME), how each workflow moves between builds. The
// short ones (a run, a run's alert, a scheduled firing, a sweep) finish on the build that started
// them, so a deploy or a rollback never hands a run in flight to other code. The company's workflow
// lives for months: it follows the current build at its next workflow task, so a change to it still
// needs `patched()` (workflows/compat/). Pinning it and moving it only at continue-as-new needs a
// server that tells it a new build is current; the Temporal server 1.29 of the dev stack does not
// (docs/development.md, "Changing a workflow safely"). Without versioning these are ignored.
setWorkflowOptions({ versioningBehavior: 'PINNED' }, syncRunWorkflow);
setWorkflowOptions({ versioningBehavior: 'PINNED' }, runAlertWorkflow);
setWorkflowOptions({ versioningBehavior: 'PINNED' }, scheduledSyncWorkflow);
setWorkflowOptions({ versioningBehavior: 'PINNED' }, syncSweepWorkflow);
setWorkflowOptions({ versioningBehavior: 'AUTO_UPGRADE' }, companySyncWorkflow);
