// The operator's operations, shared by the CLI, the demo and (later) a web console.
export { openOperationsContext, type OperationsContext, type OperationsDeps } from './context';
export { OperationError, type OperationErrorCode } from './errors';
export { offboardCompany, type OffboardResult } from './offboard';
export { onboardCompany, type OnboardInput, type OnboardResult } from './onboard';
export { getSyncReport, REPORT_ACTIONS, type SyncReport } from './report';
export { changeSchedule, upsertCompanySchedule, type ScheduleChange } from './schedule';
export { getCompaniesStatus, type CompanyStatus } from './status';
export { requestSync, waitForSyncRun, type SyncTicket, type WaitProgress } from './sync';
