import type { Reason, ReasonCode } from './types';

/** A language of the platform's people: the CLI and the docs speak English, the console French by default. */
export type Language = 'en' | 'fr';

/** One sentence in each language; the console, the CLI and the docs' generated tables all read these. */
export type Sentences = Readonly<Record<Language, string>>;

/**
 * One plain sentence per reason code, for reports. Like every reason message, these land in logs
 * and in Temporal-visible summaries, so they describe the situation and never quote the person's data.
 */
export const REASON_SENTENCES: Readonly<Record<ReasonCode, Sentences>> = {
  'missing-email': {
    en: 'The Lucca user has no professional email: they cannot be matched to or create a profile, and a linked profile keeps its current email.',
    fr: 'Le collaborateur n’a pas d’e-mail professionnel dans Lucca : il ne peut ni être rattaché ni créer de profil, et un profil lié garde son e-mail actuel.',
  },
  'invalid-email': {
    en: 'The Lucca user has an email that is not a valid address: they cannot be matched to or create a profile, and a linked profile keeps its current email.',
    fr: 'L’e-mail du collaborateur dans Lucca n’est pas une adresse valide : il ne peut ni être rattaché ni créer de profil, et un profil lié garde son e-mail actuel.',
  },
  'missing-name': {
    en: 'The Lucca user has an empty first or last name, so the record was not synced.',
    fr: 'Le prénom ou le nom est vide dans Lucca : la fiche n’a pas été synchronisée.',
  },
  'invalid-date': {
    en: 'A date in Lucca is not a plain calendar date (not a real date, or with a time or a time zone); it was not synced: the profile keeps its current value (empty on a new profile) and the rest of the record synced; it is reported again on every run while the profile keeps a value against it.',
    fr: 'Une date dans Lucca n’est pas une simple date de calendrier (date impossible, ou avec une heure ou un fuseau) : elle n’a pas été synchronisée, le profil garde sa valeur actuelle (vide pour un nouveau profil) et le reste de la fiche est synchronisé ; c’est signalé à chaque synchronisation tant que le profil garde une valeur contre elle.',
  },
  'duplicate-email-in-lucca': {
    en: 'Several Lucca users share this email, so none of them is linked or created by email until Lucca is corrected.',
    fr: 'Plusieurs collaborateurs Lucca partagent cet e-mail : aucun n’est rattaché ni créé par e-mail tant que Lucca n’est pas corrigé.',
  },
  'email-taken': {
    en: 'The email already belongs to another profile of the company, linked to another Lucca user or not linked (one login per person): nothing was linked or created with it, and a linked profile keeps its current email; the report names the profile that holds it.',
    fr: 'L’e-mail appartient déjà à un autre profil de l’entreprise, lié à un autre collaborateur Lucca ou non lié (une connexion par personne) : rien n’a été rattaché ni créé avec, et un profil lié garde son e-mail actuel ; le rapport nomme le profil qui l’a.',
  },
  'ambiguous-match': {
    en: 'Several unlinked profiles have this email, so none was linked; merge or fix them on the platform.',
    fr: 'Plusieurs profils non liés ont cet e-mail : aucun n’a été rattaché ; fusionnez-les ou corrigez-les sur la plateforme.',
  },
  'former-employee': {
    en: 'The employee left before the platform knew them, so no profile was created.',
    fr: 'Le collaborateur est parti avant que la plateforme ne le connaisse : aucun profil créé.',
  },
  'removed-from-lucca': {
    en: 'The Lucca user no longer appears in Lucca, so the profile was marked as a former employee.',
    fr: 'Le collaborateur n’apparaît plus dans Lucca : le profil est passé en ancien collaborateur.',
  },
  'contract-ended': {
    en: 'The contract end date has passed, so the profile was marked as a former employee.',
    fr: 'La date de fin de contrat est passée : le profil est passé en ancien collaborateur.',
  },
  'out-of-scope': {
    en: "The Lucca user is still in Lucca but no longer in the company's legal entities and departments (moved to another establishment or department), so the profile was marked as a former employee of this company; coming back into the scope reactivates it.",
    fr: 'Le collaborateur est toujours dans Lucca mais n’est plus dans les entités juridiques et départements de l’entreprise (mutation vers un autre établissement ou département) : le profil est passé en ancien collaborateur de cette entreprise ; s’il y revient, il est réactivé.',
  },
  rehired: {
    en: "The employee is active again in Lucca (rehired, back in Lucca or back in the company's scope), so the profile was reactivated.",
    fr: 'Le collaborateur est de nouveau actif dans Lucca (réembauche, retour dans Lucca ou dans le périmètre de l’entreprise) : le profil a été réactivé.',
  },
  'overwritten-local-edit': {
    en: 'A value edited on the platform since the last sync was replaced by the Lucca value, because Lucca is the source of truth; the change shows the platform’s value as “from”, also when the edit came while the sync applied.',
    fr: 'Une valeur modifiée sur la plateforme depuis la dernière synchronisation a été remplacée par celle de Lucca, qui fait foi ; le changement montre la valeur de la plateforme comme « avant », même quand la modification est arrivée pendant l’application.',
  },
  'invalid-record': {
    en: 'The Lucca record has no usable id, so it was not synced.',
    fr: 'La fiche Lucca n’a pas d’identifiant utilisable : elle n’a pas été synchronisée.',
  },
  'field-too-long': {
    en: 'A value in the Lucca record is longer than any real one (a broken or hostile record), so the record was not synced and its profile was left as it is.',
    fr: 'Une valeur de la fiche Lucca est plus longue que toute valeur réelle (fiche abîmée ou malveillante) : la fiche n’a pas été synchronisée et son profil est resté tel quel.',
  },
  'email-taken-at-apply': {
    en: 'The email was given to another profile on the platform while the sync ran, so the store refused it: nothing was created or changed for this person, nothing was counted as written, and the report names the profile; the next sync plans them again.',
    fr: 'L’e-mail a été donné à un autre profil sur la plateforme pendant la synchronisation, et la base l’a refusé : rien n’a été créé ni modifié pour cette personne ni compté comme écrit, et le rapport nomme le profil ; la prochaine synchronisation la reprend.',
  },
  'changed-during-sync': {
    en: 'The profile was deleted, linked to another Lucca user (or another profile was linked to this user) or kept changing on the platform while the sync ran, so nothing was written to it or counted; the next sync plans it again.',
    fr: 'Le profil a été supprimé, lié à un autre collaborateur Lucca (ou un autre profil a été lié à ce collaborateur) ou modifié sans cesse sur la plateforme pendant la synchronisation : rien n’y a été écrit ni compté ; la prochaine synchronisation le reprend.',
  },
  'invalid-value': {
    en: 'An extra field’s value in Lucca cannot be read as the type chosen for it (a text where a date or a number is expected, a reference without an id); it was not synced: the profile keeps its current value and the rest of the record synced.',
    fr: 'La valeur d’un champ supplémentaire dans Lucca ne correspond pas au type choisi pour lui (un texte là où une date ou un nombre est attendu, une référence sans identifiant) : elle n’a pas été synchronisée, le profil garde sa valeur actuelle et le reste de la fiche est synchronisé.',
  },
};

export function describeReason(code: ReasonCode, language: Language = 'en'): string {
  return REASON_SENTENCES[code][language];
}

/** Builds a reason; `message` narrows the generic sentence (e.g. which field) but must never carry personal data. */
export function reason(code: ReasonCode, message: string = describeReason(code)): Reason {
  return { code, message };
}
