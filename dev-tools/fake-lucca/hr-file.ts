// A tenant's HR-file data beyond the core fields: standard fields (employee number, job title,
// manager) and a section of custom fields (`extendedData.e_*`), with the sections a key's role may
// consult ("Consult HR files → section"): a field of a section the key cannot see is left out of
// `extendedData`, as Lucca leaves out what a role may not read.
import type { LuccaRawUser } from './dataset';

/** Each custom field of the generated tenants, and the HR-file section holding it. */
export const CUSTOM_FIELD_SECTIONS: Readonly<Record<string, string>> = {
  e_seniority: 'Avantages CSE',
  e_cseCategory: 'Avantages CSE',
  e_children: 'Avantages CSE',
  e_site: 'Avantages CSE',
  e_mealVouchers: 'Avantages CSE',
  e_salaryBand: 'Rémunération',
};

/** The sections a key may consult unless it says otherwise: every one but the pay section. */
export const DEFAULT_HR_SECTIONS: readonly string[] = ['Avantages CSE'];

/** Where a custom field not in CUSTOM_FIELD_SECTIONS (planted by a test) lives: a section every key sees. */
export const OPEN_SECTION = 'Général';

// prettier-ignore
const CSE_CATEGORIES = [
  { id: 11, name: 'Cadre' }, { id: 12, name: 'Employé·e' }, { id: 13, name: 'Agent de maîtrise' },
  { id: 14, name: 'Ingénieur·e études' },
] as const;
// Accents, an en dash, an apostrophe and a padded value: what the mapper must normalise.
const SITES = ['Lyon – Part-Dieu', 'Île de Nantes', "Villeneuve-d'Ascq", '  Saint-Étienne  ', 'Paris 9e'];
const JOB_TITLES = ['Chargée de clientèle', 'Développeur', 'Comptable', 'Responsable RH', 'Technicien réseau'];
const SALARY_BANDS = ['A', 'B', 'C', 'D'];

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

/**
 * A user's HR file, drawn from its id and the seed alone (the other draws of the dataset stay what
 * they were): about one user in ten has an empty seniority, site or category (null or ""), so a
 * preview's "how many get a value" is not everyone.
 */
export function hrFileOf(
  user: Pick<LuccaRawUser, 'id' | 'dtContractStart' | 'firstName' | 'lastName'>,
  seed: number,
  manager: Pick<LuccaRawUser, 'id' | 'firstName' | 'lastName'> | null,
): Record<string, unknown> {
  const random = seededRandom(Math.imul(seed, 0x27d4eb2f) ^ Math.imul(user.id, 0x165667b1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const empty = () => (random() < 0.5 ? null : '');
  const category = pick(CSE_CATEGORIES);
  return {
    employeeNumber: `M${String(user.id).padStart(6, '0')}`,
    jobTitle: pick(JOB_TITLES),
    manager: manager ? { id: manager.id, name: `${manager.firstName ?? ''} ${manager.lastName ?? ''}`.trim() } : null,
    extendedData: {
      // Seniority counts from the first hire: the contract start, as Lucca sends dates.
      e_seniority: random() < 0.1 ? empty() : user.dtContractStart,
      e_cseCategory: random() < 0.1 ? null : { id: category.id, name: category.name },
      e_children: Math.floor(random() * 4),
      e_site: random() < 0.1 ? empty() : pick(SITES),
      e_mealVouchers: random() < 0.7,
      e_salaryBand: pick(SALARY_BANDS),
    },
  };
}

/** The section a custom field is in. */
export const sectionOf = (field: string): string =>
  Object.entries(CUSTOM_FIELD_SECTIONS).find(([name]) => name.toLowerCase() === field.toLowerCase())?.[1] ??
  OPEN_SECTION;

/** `extendedData` as a key with these sections sees it: the fields of other sections left out. */
export function visibleExtendedData(value: unknown, sections: ReadonlySet<string>): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) {
    const section = sectionOf(name);
    if (section === OPEN_SECTION || sections.has(section)) out[name] = field;
  }
  return out;
}
