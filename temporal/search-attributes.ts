import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Part of the contract too (operators filter on them in the UI); workflows upsert them, the
// schedules set them, the dev stack and `runWorker` register them.

export const CompanyIdAttribute = defineSearchAttributeKey('CompanyId', SearchAttributeType.KEYWORD);
export const SyncTriggerAttribute = defineSearchAttributeKey('SyncTrigger', SearchAttributeType.KEYWORD);
/** How a run ended, on the run's workflow (`SyncOutcome="blocked"` in the UI): see `SyncOutcome`. */
export const SyncOutcomeAttribute = defineSearchAttributeKey('SyncOutcome', SearchAttributeType.KEYWORD);
/** What a run read (`SyncKind="incremental"` in the UI): see `RunKind`. No personal data: one of four words. */
export const SyncKindAttribute = defineSearchAttributeKey('SyncKind', SearchAttributeType.KEYWORD);
/** Every custom search attribute, registered on the namespace by the dev stack and by `runWorker`. */
export const SEARCH_ATTRIBUTES = {
  [CompanyIdAttribute.name]: CompanyIdAttribute.type,
  [SyncTriggerAttribute.name]: SyncTriggerAttribute.type,
  [SyncOutcomeAttribute.name]: SyncOutcomeAttribute.type,
  [SyncKindAttribute.name]: SyncKindAttribute.type,
} as const;
