import type { VersioningBehavior, WorkflowDefinitionOptions } from '@temporalio/common';
import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
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
// (docs/development.md, "Changing a workflow safely").
//
// Said only when the worker is versioned: the server refuses a workflow task whose completion
// carries a behaviour from an unversioned worker ("versioning behavior cannot be specified without
// deployment options being set with versioned mode"), and the SDK sends it as given, so the task
// times out again and again and the workflow never moves. The bundle is the same for both kinds of
// worker, so each workflow asks, as it starts, whether its first task ran on a versioned worker;
// one that started before versioning was turned on gets the worker's default (`AUTO_UPGRADE`, as
// unversioned workflows behave).
const whenVersioned = (versioningBehavior: VersioningBehavior) => (): WorkflowDefinitionOptions =>
  workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior } : {};

setWorkflowOptions(whenVersioned('PINNED'), syncRunWorkflow);
setWorkflowOptions(whenVersioned('PINNED'), runAlertWorkflow);
setWorkflowOptions(whenVersioned('PINNED'), scheduledSyncWorkflow);
setWorkflowOptions(whenVersioned('PINNED'), syncSweepWorkflow);
setWorkflowOptions(whenVersioned('AUTO_UPGRADE'), companySyncWorkflow);
