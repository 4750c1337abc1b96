export { companySyncWorkflow } from './company-sync';
export { syncRunWorkflow } from './sync-run';
