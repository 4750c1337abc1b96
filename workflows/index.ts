export { companySyncWorkflow } from './company-sync';
export { scheduledSyncWorkflow } from './scheduled-sync';
export { syncRunWorkflow } from './sync-run';
export { syncSweepWorkflow } from './sweep';
export { runAlertWorkflow } from './alert';
