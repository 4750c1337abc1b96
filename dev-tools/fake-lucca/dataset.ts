import { hrFileOf } from './hr-file';
import { addDays, datePart, isCalendarDate, luccaDate } from './dates';

/**
 * A user as the fake stores it and, field by field, serves it: values go out verbatim, so a test
 * can plant malformed data. Dates use Lucca's wire format (`1989-12-22T00:00:00`).
 */
export interface LuccaRawUser {
  id: number;
  firstName: string | null;
  lastName: string | null;
  mail: string | null;
  birthDate: string | null;
  dtContractStart: string | null;
  dtContractEnd: string | null;
  modifiedAt: string;
  /** The legal entity (SIREN level) of the applicable contract; absent on users planted without one. */
  legalEntityId?: number | null;
  legalEntity?: FakeOrgUnit | null;
  departmentId?: number | null;
  department?: FakeOrgUnit | null;
  [extra: string]: unknown;
}

/**
 * A legal entity or a department as a user carries it. Lucca adds a `url` when the whole object is
 * asked for; the fake makes it from the address the client used, so it is not stored.
 */
export interface FakeOrgUnit {
  id: number;
  name: string;
}

/** The legal entities and departments a generated tenant has; the first of each list is the largest. */
export interface FakeOrganisation {
  legalEntities: readonly FakeOrgUnit[];
  departments: readonly FakeOrgUnit[];
}

/**
 * Default organisation of a generated tenant. Names carry what trips naive code (accents, an
 * apostrophe, an ampersand, a capital with a circumflex); ids are small and not contiguous across
 * the two kinds, so a legal entity id mistaken for a department id matches nobody.
 */
export const FAKE_ORGANISATION: FakeOrganisation = {
  legalEntities: [
    { id: 1, name: "Société Lumière d'Île-de-France" },
    { id: 2, name: 'Établissements Côte-Sud' },
    { id: 3, name: 'Acmé Rhône-Alpes' },
  ],
  departments: [
    { id: 11, name: 'Équipe Produit' },
    { id: 12, name: 'Ressources Humaines' },
    { id: 13, name: 'Comptabilité & Contrôle de gestion' },
    { id: 14, name: 'Logistique Entrepôt Nord' },
    { id: 15, name: "Service Clients Côte d'Azur" },
    { id: 16, name: 'Direction Générale' },
  ],
};

/** One employment contract, `YYYY-MM-DD` dates; `end` null while open. */
export interface FakeContract {
  start: string;
  end: string | null;
}

/**
 * Optional extra field of a raw user holding its contracts, oldest first. Lucca serves only the
 * "applicable" contract, which depends on the day you ask; keeping the history lets a test move
 * the tenant's clock and watch a rehire happen. Never served.
 */
export const CONTRACT_HISTORY_FIELD = 'contractHistory';

/** Lucca's rule: the current contract, else the next upcoming one, else the last one. */
export function applicableContract(contracts: readonly FakeContract[], today: string): FakeContract | null {
  const current = contracts.find((c) => c.start <= today && (c.end === null || c.end >= today));
  if (current) return current;
  const upcoming = contracts.filter((c) => c.start > today).sort((a, b) => (a.start < b.start ? -1 : 1));
  return upcoming[0] ?? contracts.at(-1) ?? null;
}

/** The user as Lucca would show it on `today`: contract fields taken from its history when it has one. */
export function userAsOf(user: LuccaRawUser, today: string): LuccaRawUser {
  const history = user[CONTRACT_HISTORY_FIELD];
  if (!Array.isArray(history) || history.length === 0) return user;
  const contract = applicableContract(history as FakeContract[], today);
  if (!contract) return user;
  return {
    ...user,
    dtContractStart: luccaDate(contract.start),
    dtContractEnd: contract.end === null ? null : luccaDate(contract.end),
  };
}

export function isFormerOn(user: LuccaRawUser, today: string): boolean {
  const end = datePart(user.dtContractEnd);
  return end !== null && end < today;
}

export function isFutureOn(user: LuccaRawUser, today: string): boolean {
  const start = datePart(user.dtContractStart);
  return start !== null && start > today;
}

export type SpecialCase =
  | 'active'
  | 'upcoming-hire'
  | 'starts-today'
  | 'future-leaver'
  | 'leaves-today'
  | 'former'
  | 'rehired'
  | 'rehired-upcoming'
  | 'null-email'
  | 'empty-email'
  | 'null-birth-date'
  | 'homonym'
  | 'shared-email'
  | 'messy-email'
  | 'missing-last-name'
  | 'accented-name'
  | 'compound-name'
  | 'apostrophe-name';

/** Below this size a dataset is only ordinary employees; from it on, the first ids are the special cases. */
export const SPECIAL_CASES_MIN_SIZE = 50;

interface SpecialUser {
  cases: SpecialCase[];
  firstName: string;
  lastName: string | null;
  /** Absent: `first.last@domain`, like everybody else. */
  mail?: (domain: string) => string | null;
  noBirthDate?: true;
  /** Oldest first; more than one makes a contract history. */
  contracts: ((today: string) => FakeContract)[];
}

// Contract dates are offsets in days from `today`, so every case keeps its meaning whatever the date.
function contract(start: number, end: number | null): (today: string) => FakeContract {
  return (today) => ({ start: addDays(today, start), end: end === null ? null : addDays(today, end) });
}

// prettier-ignore
const SPECIAL_USERS: readonly SpecialUser[] = [
  { cases: ['active', 'accented-name', 'compound-name'], firstName: 'Chloé', lastName: 'Arrou-Vignod', contracts: [contract(-2200, null)] },
  { cases: ['active', 'accented-name', 'apostrophe-name'], firstName: 'Éloïse', lastName: "N'Diaye", contracts: [contract(-900, null)] },
  { cases: ['active', 'accented-name', 'compound-name'], firstName: 'Jean-Baptiste', lastName: 'Lefèvre', contracts: [contract(-3100, null)] },
  { cases: ['upcoming-hire', 'accented-name'], firstName: 'Noël', lastName: 'Bézier', contracts: [contract(30, null)] },
  { cases: ['starts-today', 'accented-name'], firstName: 'Inès', lastName: 'Moreau', contracts: [contract(0, null)] },
  { cases: ['future-leaver', 'accented-name', 'compound-name'], firstName: 'Gaëlle', lastName: 'Le Gall', contracts: [contract(-1500, 45)] },
  { cases: ['leaves-today', 'accented-name'], firstName: 'Loïc', lastName: 'Fontaine', contracts: [contract(-700, 0)] },
  { cases: ['former', 'accented-name'], firstName: 'Hélène', lastName: 'Girard', contracts: [contract(-2000, -90)] },
  { cases: ['former'], firstName: 'Thibault', lastName: 'Marchand', contracts: [contract(-4000, -1100)] },
  { cases: ['rehired', 'accented-name'], firstName: 'Agnès', lastName: 'Rousseau', contracts: [contract(-2900, -730), contract(-60, null)] },
  { cases: ['rehired-upcoming', 'accented-name'], firstName: 'Mathéo', lastName: 'Caron', contracts: [contract(-1800, -365), contract(20, null)] },
  { cases: ['null-email'], firstName: 'Camille', lastName: 'Perrin', mail: () => null, contracts: [contract(-1200, null)] },
  { cases: ['empty-email'], firstName: 'Bastien', lastName: 'Roy', mail: () => '', contracts: [contract(-600, null)] },
  { cases: ['null-birth-date', 'accented-name'], firstName: 'Zoé', lastName: 'Lemaire', noBirthDate: true, contracts: [contract(-400, null)] },
  { cases: ['homonym'], firstName: 'Marie', lastName: 'Martin', mail: (d) => `marie.martin@${d}`, contracts: [contract(-2500, null)] },
  { cases: ['homonym'], firstName: 'Marie', lastName: 'Martin', mail: (d) => `marie.martin2@${d}`, contracts: [contract(-300, null)] },
  { cases: ['shared-email'], firstName: 'Jean', lastName: 'Dupont', mail: (d) => `j.dupont@${d}`, contracts: [contract(-3300, null)] },
  { cases: ['shared-email'], firstName: 'Jeanne', lastName: 'Dupont', mail: (d) => `j.dupont@${d}`, contracts: [contract(-1700, null)] },
  { cases: ['messy-email', 'accented-name'], firstName: 'Anaïs', lastName: 'Benoît', mail: (d) => `  ANAIS.BENOIT@${d.toUpperCase()}  `, contracts: [contract(-1000, null)] },
  { cases: ['missing-last-name'], firstName: 'Maxime', lastName: null, mail: (d) => `maxime@${d}`, contracts: [contract(-800, null)] },
];

// prettier-ignore
const FIRST_NAMES = [
  'Chloé', 'Éloïse', 'Léa', 'Manon', 'Camille', 'Inès', 'Zoé', 'Anaïs', 'Hélène', 'Gaëlle', 'Agnès', 'Maëlys',
  'Céline', 'Sophie', 'Julie', 'Claire', 'Émilie', 'Aurélie', 'Mélanie', 'Océane', 'Noémie', 'Clémence', 'Margaux',
  'Louise', 'Jeanne', 'Marie', 'Anne-Sophie', 'Marie-Claire', 'Fatoumata', 'Lucas', 'Hugo', 'Louis', 'Gabriel',
  'Raphaël', 'Arthur', 'Jules', 'Mathéo', 'Théo', 'Noël', 'Loïc', 'Jérôme', 'Benoît', 'François', 'Stéphane',
  'Clément', 'Sébastien', 'Frédéric', 'Thibault', 'Maxime', 'Nicolas', 'Antoine', 'Julien', 'Jean-Baptiste',
  'Pierre-Louis', 'Jean-Luc', 'Yanis', 'Mohamed', 'Amadou', 'Karim', 'Thomas', 'Paul',
];

// prettier-ignore
const LAST_NAMES = [
  'Martin', 'Bernard', 'Dubois', 'Thomas', 'Robert', 'Richard', 'Petit', 'Durand', 'Leroy', 'Moreau', 'Simon',
  'Laurent', 'Lefèvre', 'Michel', 'Garcia', 'David', 'Bertrand', 'Roux', 'Vincent', 'Fournier', 'Morel', 'Girard',
  'André', 'Mercier', 'Dupont', 'Lambert', 'Bonnet', 'François', 'Martinez', 'Legrand', 'Garnier', 'Faure',
  'Rousseau', 'Blanc', 'Guérin', 'Muller', 'Henry', 'Roussel', 'Perrin', 'Morin', 'Mathieu', 'Clément', 'Gauthier',
  'Dumont', 'Lopez', 'Fontaine', 'Chevalier', 'Robin', 'Masson', 'Gérard', 'Nguyen', 'Boyer', 'Lemaire', 'Duval',
  'Joly', 'Roche', 'Roy', 'Noël', 'Meyer', 'Meunier', 'Pérez', 'Marchand', 'Dufour', 'Blanchard', 'Barbier', 'Brun',
  'Dumas', 'Brunet', 'Schmitt', 'Leroux', 'Colin', 'Renard', 'Arnaud', 'Caron', 'Aubert', 'Giraud', 'Leclerc',
  'Vidal', 'Bourgeois', 'Renaud', 'Lemoine', 'Picard', 'Gaillard', 'Lacroix', 'Fabre', 'Dupuis', 'Rivière',
  'Da Silva', 'De Oliveira', 'Le Gall', 'Le Goff', 'Arrou-Vignod', "N'Diaye", 'Diallo', 'Benali', 'Bézier', 'Hébert',
  'Ménard', 'Bégué', 'Saint-Martin', 'Traoré',
];

/** mulberry32: tiny, fast and good enough to make a dataset look random while staying reproducible. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Names come from short lists: folding each once keeps 100k-user datasets quick to build.
const localParts = new Map<string, string>();

/** `Arrou-Vignod` → `arrou-vignod`, `N'Diaye` → `ndiaye`, `Le Gall` → `legall`: what mail systems make of names. */
export function emailLocalPart(name: string): string {
  let local = localParts.get(name);
  if (local === undefined) {
    local = name
      .normalize('NFD')
      .replace(/\p{M}/gu, '')
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '');
    localParts.set(name, local);
  }
  return local;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

export interface GenerateLuccaUsersOptions {
  size: number;
  seed: number;
  /** `YYYY-MM-DD`: the day the dataset describes (contract dates are placed around it). */
  today: string;
  startId?: number;
  emailDomain?: string;
  /** Default FAKE_ORGANISATION. */
  organisation?: FakeOrganisation;
}

/**
 * Picks one unit with weights n, n-1, … 1 (the first is the largest), so that counts per unit
 * differ and a preview showing the wrong unit's count is caught.
 */
function pickWeighted<T>(units: readonly T[], draw: number): T {
  const n = units.length;
  let target = draw * ((n * (n + 1)) / 2);
  for (const [index, unit] of units.entries()) {
    target -= n - index;
    if (target < 0) return unit;
  }
  return units[n - 1] as T;
}

/**
 * A user's legal entity and department, drawn from its id and the seed alone: the draws of
 * names and dates stay what they were before organisations existed, and neighbouring ids land in
 * different units, so every page of a read mixes them.
 */
function organisationOf(
  id: number,
  seed: number,
  organisation: FakeOrganisation,
): Pick<LuccaRawUser, 'legalEntityId' | 'legalEntity' | 'departmentId' | 'department'> {
  const random = seededRandom(Math.imul(seed, 0x9e3779b1) ^ Math.imul(id, 0x85ebca6b));
  const legalEntity = pickWeighted(organisation.legalEntities, random());
  const department = pickWeighted(organisation.departments, random());
  return {
    legalEntityId: legalEntity.id,
    // Fresh objects per user: a test editing one user's unit in place must not rename it for all.
    legalEntity: { id: legalEntity.id, name: legalEntity.name },
    departmentId: department.id,
    department: { id: department.id, name: department.name },
  };
}

function validOrganisation(organisation: FakeOrganisation): FakeOrganisation {
  for (const [kind, units] of Object.entries(organisation) as [string, readonly FakeOrgUnit[]][]) {
    if (units.length === 0) throw new RangeError(`organisation.${kind} must not be empty`);
    if (new Set(units.map((u) => u.id)).size !== units.length) {
      throw new RangeError(`organisation.${kind} has the same id twice`);
    }
  }
  return organisation;
}

/**
 * A reproducible company: the same (size, seed, today) gives the same users, and a larger size
 * extends a smaller one. From size 50 on, the first ids are the special cases of
 * `describeSpecialCases`; the rest are ~85% active, ~5% upcoming hires, ~8% former, ~2% leaving.
 */
export function generateLuccaUsers(opts: GenerateLuccaUsersOptions): LuccaRawUser[] {
  const { size, seed, today, startId = 1, emailDomain = 'acme.example' } = opts;
  if (!Number.isInteger(size) || size < 0) throw new RangeError(`size must be a non-negative integer, got ${size}`);
  if (!isCalendarDate(today)) throw new RangeError(`today must be YYYY-MM-DD, got ${today}`);
  const organisation = validOrganisation(opts.organisation ?? FAKE_ORGANISATION);
  const random = seededRandom(seed);
  const between = (min: number, max: number): number => min + Math.floor(random() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const modifiedAt = (): string =>
    `${addDays(today, -between(1, 730))}T${pad(between(7, 19))}:${pad(between(0, 59))}:${pad(between(0, 59))}.${pad(between(0, 999), 3)}`;
  const birthDate = (): string => luccaDate(addDays(today, -between(20 * 365, 64 * 365)));

  const users: LuccaRawUser[] = [];
  const takenEmails = new Set<string>();
  // Common names repeat thousands of times in a large company: resume numbering where it stopped.
  const nextSuffix = new Map<string, number>();
  const withSpecialCases = size >= SPECIAL_CASES_MIN_SIZE;

  if (withSpecialCases) {
    for (const [index, special] of SPECIAL_USERS.entries()) {
      const contracts = special.contracts.map((c) => c(today));
      const current = applicableContract(contracts, today);
      const mail = special.mail
        ? special.mail(emailDomain)
        : `${emailLocalPart(special.firstName)}.${emailLocalPart(special.lastName ?? '')}@${emailDomain}`;
      if (mail) takenEmails.add(mail.trim().toLowerCase());
      const user: LuccaRawUser = {
        id: startId + index,
        firstName: special.firstName,
        lastName: special.lastName,
        mail,
        birthDate: special.noBirthDate ? null : birthDate(),
        dtContractStart: current ? luccaDate(current.start) : null,
        dtContractEnd: current?.end ? luccaDate(current.end) : null,
        modifiedAt: modifiedAt(),
        ...organisationOf(startId + index, seed, organisation),
      };
      if (contracts.length > 1) user[CONTRACT_HISTORY_FIELD] = contracts;
      users.push(user);
      Object.assign(user, hrFileOf(user, seed, managerOf(users, index)));
    }
  }

  for (let id = startId + users.length; users.length < size; id++) {
    const firstName = pick(FIRST_NAMES);
    const lastName = pick(LAST_NAMES);
    const roll = random();
    let start: number;
    let end: number | null = null;
    if (roll < 0.85) {
      start = -between(1, 15 * 365);
    } else if (roll < 0.9) {
      start = between(1, 90);
    } else if (roll < 0.98) {
      start = -between(2 * 365, 12 * 365);
      end = -between(1, 2 * 365 - 1);
    } else {
      start = -between(90, 10 * 365);
      end = between(1, 120);
    }
    const local = `${emailLocalPart(firstName)}.${emailLocalPart(lastName)}`;
    let mail = `${local}@${emailDomain}`;
    let n = nextSuffix.get(local) ?? 2;
    while (takenEmails.has(mail)) mail = `${local}${n++}@${emailDomain}`;
    nextSuffix.set(local, n);
    takenEmails.add(mail);
    const user: LuccaRawUser = {
      id,
      firstName,
      // Some Lucca accounts keep family names in capitals (their own docs show `DOE`).
      lastName: random() < 0.1 ? lastName.toUpperCase() : lastName,
      mail,
      birthDate: birthDate(),
      dtContractStart: luccaDate(addDays(today, start)),
      dtContractEnd: end === null ? null : luccaDate(addDays(today, end)),
      modifiedAt: modifiedAt(),
      ...organisationOf(id, seed, organisation),
    };
    users.push(user);
    Object.assign(user, hrFileOf(user, seed, managerOf(users, users.length - 1)));
  }
  return users;
}

/** Every ten users report to one of the users before them; the first has no manager. */
function managerOf(users: readonly LuccaRawUser[], index: number): LuccaRawUser | null {
  return index === 0 ? null : (users[Math.floor((index - 1) / 10)] ?? null);
}

/**
 * The users, those of `ids` moved to another legal entity and/or department (ids and objects kept
 * in step, as Lucca serves them). Use it through `mutateUsers` or `onNextRequest`.
 */
export function moveUsers(
  users: LuccaRawUser[],
  ids: readonly number[],
  to: { legalEntity?: FakeOrgUnit; department?: FakeOrgUnit },
): LuccaRawUser[] {
  const moving = new Set(ids);
  return users.map((user) => {
    if (!moving.has(user.id)) return user;
    const moved = { ...user };
    if (to.legalEntity) {
      moved.legalEntityId = to.legalEntity.id;
      moved.legalEntity = { id: to.legalEntity.id, name: to.legalEntity.name };
    }
    if (to.department) {
      moved.departmentId = to.department.id;
      moved.department = { id: to.department.id, name: to.department.name };
    }
    return moved;
  });
}

/** The users, the legal entity or department with `unit.id` renamed to `unit.name` on each of them. */
export function renameOrgUnit(
  users: LuccaRawUser[],
  kind: 'legalEntity' | 'department',
  unit: FakeOrgUnit,
): LuccaRawUser[] {
  return users.map((user) => {
    const current = user[kind];
    if (current?.id !== unit.id) return user;
    return { ...user, [kind]: { ...current, name: unit.name } };
  });
}

/**
 * Which ids of a generated dataset carry which special case (a user can carry several), so tests
 * can target them without hard-coding ids. Every list is empty below size 50.
 */
export function describeSpecialCases(opts: { size: number; startId?: number }): Record<SpecialCase, number[]> {
  const startId = opts.startId ?? 1;
  const result = {} as Record<SpecialCase, number[]>;
  for (const special of SPECIAL_USERS) for (const c of special.cases) result[c] = [];
  if (opts.size < SPECIAL_CASES_MIN_SIZE) return result;
  for (const [index, special] of SPECIAL_USERS.entries()) {
    for (const c of special.cases) result[c].push(startId + index);
  }
  return result;
}
