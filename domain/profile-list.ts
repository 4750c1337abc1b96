import type { ProfileStatus } from './types';

/**
 * How the console lists a company's profiles: French order and a search that ignores accents and
 * case. Pure: the list is built from the profiles as read (see the console's profile directory).
 */

/** French order, as a French reader expects it: "André" before "AUBERT", "Éloïse" next to "Eloise". */
export const frenchCollator = new Intl.Collator('fr');

const LIGATURES: Record<string, string> = { œ: 'oe', æ: 'ae', ß: 'ss', ø: 'o', đ: 'd', ł: 'l' };

/**
 * A text as the search compares it: accents and case dropped (NFD, combining marks removed),
 * ligatures spelt out, apostrophes and dashes kept as they are typed, spaces collapsed.
 * "Éloïse Aït N'Diaye" → "eloise ait n'diaye".
 */
export function foldForSearch(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[œæßøđł]/g, (c) => LIGATURES[c] ?? c)
    .replace(/[’‘ʼ]/g, "'")
    .replace(/[‐‑‒–—]/g, '-')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The words of a search, folded: each must be found in the profile (in any order). */
export function searchTerms(query: string): string[] {
  return foldForSearch(query).split(' ').filter(Boolean);
}

export interface OrgUnit {
  id: number;
  name: string;
}

/** One profile as the list shows and filters it. */
export interface ProfileListEntry {
  id: string;
  firstName: string | null;
  lastName: string | null;
  email: string | null;
  status: ProfileStatus;
  linked: boolean;
  contractStart: string | null;
  contractEnd: string | null;
  legalEntity: OrgUnit | null;
  department: OrgUnit | null;
  /** Names and email, folded (`foldForSearch`). */
  searchText: string;
}

export interface ProfileListFilter {
  search?: string;
  status?: ProfileStatus;
  linked?: boolean;
  legalEntityId?: number;
  departmentId?: number;
}

export function listEntryOf(p: Omit<ProfileListEntry, 'searchText'>): ProfileListEntry {
  return { ...p, searchText: foldForSearch([p.lastName, p.firstName, p.email].filter(Boolean).join(' ')) };
}

/** By last name, then first name, in French order; then email and id so the order is total. */
export function compareListEntries(a: ProfileListEntry, b: ProfileListEntry): number {
  return (
    frenchCollator.compare(a.lastName ?? '', b.lastName ?? '') ||
    frenchCollator.compare(a.firstName ?? '', b.firstName ?? '') ||
    frenchCollator.compare(a.email ?? '', b.email ?? '') ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** Whether an entry passes every part of the filter (absent parts pass). */
export function entryMatcher(filter: ProfileListFilter): (e: ProfileListEntry) => boolean {
  const terms = filter.search ? searchTerms(filter.search) : [];
  return (e) =>
    (filter.status === undefined || e.status === filter.status) &&
    (filter.linked === undefined || e.linked === filter.linked) &&
    (filter.legalEntityId === undefined || e.legalEntity?.id === filter.legalEntityId) &&
    (filter.departmentId === undefined || e.department?.id === filter.departmentId) &&
    terms.every((t) => e.searchText.includes(t));
}

/** The units the entries carry, each once with how many profiles it has, in French order of name. */
export function unitsOf(entries: readonly ProfileListEntry[], pick: (e: ProfileListEntry) => OrgUnit | null) {
  const byId = new Map<number, { id: number; name: string; count: number }>();
  for (const e of entries) {
    const unit = pick(e);
    if (!unit) continue;
    const known = byId.get(unit.id);
    if (known) known.count++;
    else byId.set(unit.id, { id: unit.id, name: unit.name, count: 1 });
  }
  return [...byId.values()].sort((a, b) => frenchCollator.compare(a.name, b.name) || a.id - b.id);
}
