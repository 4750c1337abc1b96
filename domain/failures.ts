import type { GuardCode } from './guards';
import type { Language, Sentences } from './reasons';

/**
 * The one vocabulary of failures: a Lucca error's `code`, the `type` of the Temporal failure an
 * activity throws, a failed run's `syncRuns.error.code`, and what the console and the CLI say.
 * A plain table, so workflow code can import it without pulling in activity code.
 */

/**
 * Every failure code, with the Temporal failure type it travels as. The types are recorded in
 * workflow histories: never rename one (a replayed history would no longer be recognised).
 */
const TYPE_BY_CODE = {
  /** Lucca refused the key (401) or the key lacks a permission (403): an operator must act. */
  'lucca-auth': 'LuccaAuthError',
  /** Lucca refused the request itself (404, other 4xx): the same request fails again. */
  'lucca-request': 'LuccaRequestError',
  /** Something answered, not the way Lucca does: most likely a wrong domain. */
  'lucca-not-lucca': 'LuccaNotLuccaError',
  /** 5xx, 408, timeouts, truncated bodies: retried, then the run fails. */
  'lucca-unavailable': 'LuccaUnavailableError',
  /** 429 past the waits the client allows itself: retried after Retry-After, then the run fails. */
  'lucca-rate-limited': 'LuccaRateLimitedError',
  /**
   * A field the sync asked for is missing from Lucca's answer: the key's role most likely lost a
   * permission. Read as null it would blank the field for everyone, so the read stops instead.
   */
  'lucca-missing-field': 'LuccaMissingFieldError',
  /**
   * An extra field the company reads (a custom HR-file field, a standard one) is missing from every
   * user of a page: the key's role cannot see it. Read as empty it would blank it for everyone, so
   * the read stops and names the field and the permission to grant.
   */
  'lucca-hidden-field': 'LuccaHiddenFieldError',
  /**
   * A Lucca answer larger than LUCCA_MAX_PAGE_BYTES: stopped as it streamed, before it could fill
   * the worker's memory. Not retried: the same request gets the same answer.
   */
  'lucca-too-large': 'LuccaTooLargeError',
  /**
   * Lucca answered with no user at all while the company has linked profiles. A tenant keeps its
   * leavers (the read asks for former employees), so an empty directory is a wrong answer — a key
   * whose role sees nobody, a tenant emptied by mistake — never a reason to deactivate everyone.
   */
  'lucca-empty': 'LuccaEmptyError',
  /** No answer at all (DNS, refused connection, TLS): retried, then the run fails. */
  'lucca-unreachable': 'LuccaUnreachableError',
  /**
   * The company's Lucca connection (URL, key) changed while the run was in flight: what it read
   * belongs to the old connection, so it writes nothing. Not retried; the next run reads the new one.
   */
  'connection-changed': 'ConnectionChangedError',
  /** The worker cannot do the job as configured (e.g. the key does not decrypt with this secret). */
  configuration: 'ConfigurationError',
  'company-not-found': 'CompanyNotFoundError',
  /** The company is offboarded, or being offboarded: it gets no new run and no new workflow. */
  offboarded: 'CompanyOffboardedError',
  /** The company workflow's queue holds as many kinds of request as it takes: the request was refused. */
  'queue-full': 'SyncQueueFullError',
  /** An activity whose checkpoint stopped moving (a store or a request that never answered). */
  stalled: 'SyncStalledError',
  /**
   * A step of the run (an activity, every retry included) or the whole run took longer than its
   * bound, set from the company's size and Lucca's rate limit (`domain/run-bounds.ts`): the run
   * stopped, recorded its failure and dropped its working data, and the company's queue moves on.
   */
  'run-too-long': 'SyncRunTooLongError',
  /** MongoDB kept failing. */
  storage: 'StorageError',
  /** The run was cancelled (the company was offboarded): it stopped where it was and its working data was removed. */
  cancelled: 'SyncCancelledError',
  /** The run's workflow ended without finishing the run (terminated, timed out): the sweeper closed it. */
  abandoned: 'SyncAbandonedError',
  /**
   * The activity's worker was shutting down (a deploy, SIGTERM): the attempt stopped at its
   * checkpoint and Temporal retries it from there at once, on another worker.
   */
  'worker-shutdown': 'WorkerShutdownError',
  /** Anything else: a bug. */
  internal: 'InternalError',
} as const;

export type FailureCode = keyof typeof TYPE_BY_CODE;
export type LuccaFailureCode = Extract<FailureCode, `lucca-${string}`>;

/** The Temporal failure type a failure code travels as. */
export function failureType(code: FailureCode): string {
  return TYPE_BY_CODE[code];
}

/**
 * What each failure code means and what to do, for the operator: the console shows it in its
 * language, the docs' failure table is generated from it. Never quotes a key or anyone's data.
 */
export const FAILURE_SENTENCES: Readonly<Record<FailureCode, Sentences>> = {
  'lucca-auth': {
    en: 'Lucca refused the key (revoked or wrong, 401) or the key lacks a permission (403): get a new key from the company and onboard again.',
    fr: 'Lucca a refusé la clé (révoquée ou fausse, 401) ou il manque une permission à la clé (403) : demandez une nouvelle clé à l’entreprise et connectez-la de nouveau.',
  },
  'lucca-request': {
    en: 'Lucca refused the request itself (404 or another 4xx): the same request would fail again.',
    fr: 'Lucca a refusé la requête elle-même (404 ou autre 4xx) : la même requête échouerait de nouveau.',
  },
  'lucca-not-lucca': {
    en: 'Something answered, not the way Lucca does: the URL is most likely not a Lucca API; check the domain.',
    fr: 'Quelque chose a répondu, mais pas comme Lucca : l’adresse n’est probablement pas une API Lucca ; vérifiez le domaine.',
  },
  'lucca-unavailable': {
    en: 'Lucca kept failing after retries (5xx, 408, timeouts, truncated answers).',
    fr: 'Lucca a continué d’échouer malgré les nouvelles tentatives (5xx, 408, délais dépassés, réponses tronquées).',
  },
  'lucca-rate-limited': {
    en: 'Lucca kept answering 429 after retries: the company’s other integrations use its request budget.',
    fr: 'Lucca a continué de répondre 429 malgré les nouvelles tentatives : les autres intégrations de l’entreprise consomment son quota de requêtes.',
  },
  'lucca-missing-field': {
    en: 'Lucca left out a field the sync asks for (e.g. birth dates): the key’s role most likely lost a permission; nothing is read as blank.',
    fr: 'Lucca a omis un champ demandé par la synchronisation (par exemple les dates de naissance) : le rôle de la clé a sans doute perdu une permission ; rien n’est lu comme vide.',
  },
  'lucca-hidden-field': {
    en: 'Lucca left out an extra field the company reads, for every user: the key cannot see it. In Lucca, give the key’s role “Consult HR files” on the section holding that field (or remove the field from the company’s extra fields), then sync again; nothing is read as blank.',
    fr: 'Lucca a omis, pour tous les collaborateurs, un champ supplémentaire que l’entreprise lit : la clé ne le voit pas. Dans Lucca, donnez au rôle de la clé « Consulter les dossiers RH » sur la section qui contient ce champ (ou retirez le champ des champs supplémentaires de l’entreprise), puis relancez la synchronisation ; rien n’est lu comme vide.',
  },
  'lucca-too-large': {
    en: 'A Lucca answer was larger than LUCCA_MAX_PAGE_BYTES: the read stopped there and is not retried; a real page of 1,000 users is about 1 MB, so report it to Lucca.',
    fr: 'Une réponse de Lucca dépassait LUCCA_MAX_PAGE_BYTES : la lecture s’est arrêtée là, sans nouvelle tentative ; une vraie page de 1 000 collaborateurs fait environ 1 Mo, signalez-le à Lucca.',
  },
  'lucca-empty': {
    en: 'Lucca answered with no user at all while profiles are linked: a key that sees nobody or a wrong tenant, not departures; not retried, nothing changed.',
    fr: 'Lucca n’a renvoyé aucun collaborateur alors que des profils sont liés : une clé qui ne voit personne ou un mauvais compte Lucca, pas des départs ; sans nouvelle tentative, rien n’a changé.',
  },
  'lucca-unreachable': {
    en: 'No answer at all from Lucca after retries (DNS, connection or TLS).',
    fr: 'Aucune réponse de Lucca malgré les nouvelles tentatives (DNS, connexion ou TLS).',
  },
  'connection-changed': {
    en: 'The company’s Lucca URL or key changed while the run was in flight: what it read belongs to the old connection, so it wrote nothing, or, if the change came while it applied, it stopped, saying after how many writes.',
    fr: 'L’adresse Lucca ou la clé de l’entreprise a changé pendant la synchronisation : ce qu’elle a lu appartient à l’ancienne connexion, elle n’a donc rien écrit, ou, si le changement est arrivé pendant l’application, elle s’est arrêtée en disant après combien d’écritures.',
  },
  configuration: {
    en: 'The worker cannot do the job as configured: e.g. no secret of the worker decrypts the key, or the stored Lucca URL was changed outside onboarding or is not an allowed host.',
    fr: 'Le worker ne peut pas travailler tel qu’il est configuré : par exemple aucun de ses secrets ne déchiffre la clé, ou l’adresse Lucca enregistrée a été changée hors de la connexion ou n’est pas un hôte autorisé.',
  },
  'company-not-found': {
    en: 'The company is not onboarded (a typo in its id?).',
    fr: 'L’entreprise n’est pas connectée (une faute de frappe dans son identifiant ?).',
  },
  offboarded: {
    en: 'The company is offboarded, or being offboarded: it gets no new run and no new workflow until it is onboarded again.',
    fr: 'L’entreprise est déconnectée, ou en cours de déconnexion : elle n’a plus de synchronisation ni de workflow tant qu’elle n’est pas connectée de nouveau.',
  },
  'queue-full': {
    en: 'The company workflow’s queue already holds as many kinds of request as it takes: the request was refused, not queued.',
    fr: 'La file du workflow de l’entreprise contient déjà autant de sortes de demandes qu’elle en accepte : la demande a été refusée, pas mise en attente.',
  },
  stalled: {
    en: 'A step made no progress for SYNC_STALL_TIMEOUT_MS on every retry: check MongoDB and Lucca.',
    fr: 'Une étape n’a pas avancé pendant SYNC_STALL_TIMEOUT_MS à chaque tentative : vérifiez MongoDB et Lucca.',
  },
  storage: {
    en: 'MongoDB kept failing; after a failed apply part of the plan may be written, and the next run completes it.',
    fr: 'MongoDB a continué d’échouer ; après un échec pendant l’application, une partie du plan peut être écrite, et la synchronisation suivante la complète.',
  },
  cancelled: {
    en: 'The run was cancelled (the company was offboarded): it stopped at its next checkpoint and its working data was removed; cancelled while applying, part of the plan may be written.',
    fr: 'La synchronisation a été annulée (l’entreprise a été déconnectée) : elle s’est arrêtée à son point de reprise suivant et ses données de travail ont été supprimées ; annulée pendant l’application, une partie du plan peut être écrite.',
  },
  'run-too-long': {
    en: 'A step or the whole run took longer than its bound, set from the company’s size at its last run and Lucca’s 50 requests a minute (about 2 h for the read of 100,000 users, 7 h for the whole run): check how fast Lucca and MongoDB answer; the next run tries again.',
    fr: 'Une étape ou la synchronisation entière a duré plus que sa limite, fixée d’après la taille de l’entreprise à sa dernière synchronisation et les 50 requêtes par minute de Lucca (environ 2 h pour lire 100 000 collaborateurs, 7 h pour toute la synchronisation) : vérifiez les temps de réponse de Lucca et de MongoDB ; la prochaine synchronisation réessaie.',
  },
  abandoned: {
    en: 'The run’s workflow ended without finishing the run (terminated or timed out in Temporal), and the sweeper closed it.',
    fr: 'Le workflow de la synchronisation s’est terminé sans la finir (arrêté ou expiré dans Temporal), et le nettoyage l’a clôturée.',
  },
  'worker-shutdown': {
    en: 'The step’s worker was shutting down (a deploy, SIGTERM): the attempt stopped at its checkpoint and Temporal retries it from there at once, on another worker.',
    fr: 'Le worker de l’étape s’arrêtait (un déploiement, SIGTERM) : la tentative s’est arrêtée à son point de reprise et Temporal la reprend de là aussitôt, sur un autre worker.',
  },
  internal: {
    en: 'Anything else: a bug, to report with the run id.',
    fr: 'Tout le reste : un bogue, à signaler avec l’identifiant de la synchronisation.',
  },
};

/** The operator's sentence for a failure code; null for a code this vocabulary does not hold (an older run's). */
export function describeFailure(code: string, language: Language = 'en'): string | null {
  return Object.hasOwn(FAILURE_SENTENCES, code) ? FAILURE_SENTENCES[code as FailureCode][language] : null;
}

const CODE_BY_TYPE = new Map<string, FailureCode>(
  Object.entries(TYPE_BY_CODE).map(([code, type]) => [type, code as FailureCode]),
);

/** The failure code of a Temporal failure type; null for a type this vocabulary does not hold. */
export function failureCode(type: string | null | undefined): FailureCode | null {
  return CODE_BY_TYPE.get(type ?? '') ?? null;
}

export function isLuccaFailure(code: FailureCode | null): code is LuccaFailureCode {
  return code !== null && code.startsWith('lucca-');
}

/** `syncRuns.error`: why a run failed, or which guard blocked it; one operator-facing sentence. */
export interface RunError {
  code: FailureCode | GuardCode;
  message: string;
}
