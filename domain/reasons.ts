import type { Reason, ReasonCode } from './types';

/**
 * One plain sentence per reason code, for reports. Like every reason message, these land in logs
 * and in Temporal-visible summaries, so they describe the situation and never quote the person's data.
 */
const REASON_DESCRIPTIONS: Readonly<Record<ReasonCode, string>> = {
  'missing-email':
    'The Lucca user has no professional email: they cannot be matched to or create a profile, and a linked profile keeps its current email.',
  'invalid-email':
    'The Lucca user has an email that is not a valid address: they cannot be matched to or create a profile, and a linked profile keeps its current email.',
  'missing-name': 'The Lucca user has an empty first or last name, so the record was not synced.',
  'invalid-date':
    'A date in Lucca is not a plain calendar date (not a real date, or with a time or a time zone); it was not synced: the profile keeps its current value (empty on a new profile) and the rest of the record synced.',
  'duplicate-email-in-lucca':
    'Several Lucca users share this email, so none of them is linked or created by email until Lucca is corrected.',
  'email-taken':
    'The email already belongs to a profile linked to another Lucca user, so it was neither linked nor changed.',
  'ambiguous-match':
    'Several unlinked profiles have this email, so none was linked; merge or fix them on the platform.',
  'former-employee': 'The employee left before the platform knew them, so no profile was created.',
  'removed-from-lucca': 'The Lucca user no longer appears in Lucca, so the profile was marked as a former employee.',
  'out-of-scope':
    "The Lucca user is still in Lucca but no longer in the company's legal entities and departments (moved to another establishment or department), so the profile was marked as a former employee of this company; coming back into the scope reactivates it.",
  'contract-ended': 'The contract end date has passed, so the profile was marked as a former employee.',
  rehired:
    "The employee is active again in Lucca (rehired, back in Lucca or back in the company's scope), so the profile was reactivated.",
  'overwritten-local-edit':
    'A value edited on the platform since the last sync was replaced by the Lucca value, because Lucca is the source of truth.',
  'invalid-record': 'The Lucca record has no usable id, so it was not synced.',
  'field-too-long':
    'A value in the Lucca record is longer than any real one (a broken or hostile record), so the record was not synced.',
  'email-taken-at-apply':
    'The email was given to another profile on the platform while the sync ran, so the store refused it: nothing was created or changed for this person; the next sync plans them again.',
  'changed-during-sync':
    'The profile was deleted, linked to another Lucca user or kept changing on the platform while the sync ran, so nothing was written to it; the next sync plans it again.',
};

export function describeReason(code: ReasonCode): string {
  return REASON_DESCRIPTIONS[code];
}

/** Builds a reason; `message` narrows the generic sentence (e.g. which field) but must never carry personal data. */
export function reason(code: ReasonCode, message: string = describeReason(code)): Reason {
  return { code, message };
}
