// The operator's operations, shared by the CLI, the demo and the console.
export {
  AUDIT_ACTIONS,
  AUDIT_RETENTION_DAYS,
  audited,
  auditToCsv,
  auditToJson,
  listAudit,
  recordAudit,
  type AuditAction,
  type AuditActor,
} from './audit';
export { openOperationsContext, type OperationsContext, type OperationsDeps } from './context';
export { OperationError, type OperationErrorCode } from './errors';
export { setGuard } from './guards';
export { rotateApiKeys, type RotateKeysResult } from './keys';
export { offboardCompany, type OffboardResult } from './offboard';
export { DEFAULT_EVERY, DEFAULT_TIMEZONE, onboardCompany, type OnboardInput, type OnboardResult } from './onboard';
export { getSyncReport, REPORT_ACTIONS, type SyncReport } from './report';
export { changeSchedule, scheduleAudit, upsertCompanySchedule, type ScheduleChange } from './schedule';
export { getCompaniesStatus, type CompanyStatus } from './status';
export { ensureSweepSchedule, SWEEP_EVERY } from './sweeper';
export {
  REQUEST_KEY_PATTERN,
  requestSync,
  ticketAuditDetails,
  waitForSyncRun,
  type SyncTicket,
  type WaitProgress,
} from './sync';
