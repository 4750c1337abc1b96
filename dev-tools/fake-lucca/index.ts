// The project's stand-in for Lucca's legacy v3 users API: tests, the demo and the benchmarks all
// talk to it over real HTTP, and it imitates Lucca as documented (paging, filters, errors, limits).
export {
  applicableContract,
  CONTRACT_HISTORY_FIELD,
  describeSpecialCases,
  emailLocalPart,
  FAKE_ORGANISATION,
  generateLuccaUsers,
  moveUsers,
  renameOrgUnit,
  SPECIAL_CASES_MIN_SIZE,
  type FakeContract,
  type FakeOrganisation,
  type FakeOrgUnit,
  type GenerateLuccaUsersOptions,
  type LuccaRawUser,
  type SpecialCase,
} from './dataset';
export { type FaultRule, type HoldRule, type RequestHold } from './faults';
export { MAX_PAGE_SIZE } from './query';
export { startFakeLucca, type FakeLucca, type RequestLogEntry, type StartFakeLuccaOptions } from './server';
export {
  DEFAULT_RATE_LIMIT,
  type FakeApiKey,
  type OrganisationFilters,
  type PageHook,
  type RateLimit,
  type TenantOptions,
} from './tenant';
export { CUSTOM_FIELD_SECTIONS, DEFAULT_HR_SECTIONS } from './hr-file';
