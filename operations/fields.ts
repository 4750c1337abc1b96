import { randomUUID } from 'node:crypto';
import { extraFieldsOf, scopeOf, type CompanyDocument } from '../db/companies-repository';
import {
  defaultExtraKey,
  extraFieldsProblem,
  formatExtraValue,
  isCustomField,
  normaliseExtraValue,
  rawExtraValue,
  sameExtraValue,
  STANDARD_EXTRA_FIELDS,
  type ExtraFieldsConfig,
  type ExtraFieldSpec,
  type ExtraFieldType,
} from '../domain/extra-fields';
import { LuccaClient, START_OF_USERS } from '../lucca/client';
import { LuccaError } from '../lucca/errors';
import type { OperationsDeps } from './context';
import { OperationError } from './errors';
import { companyLuccaClient, companyToChange } from './lucca-budget';
import { refuseWhileRunInFlight } from './run-in-flight';

/** How many distinct values a preview shows: enough to check the type and the format, not a list of people. */
export const PREVIEW_SAMPLE_SIZE = 5;

function luccaFailure(err: unknown, what: string): never {
  if (err instanceof LuccaError) {
    throw new OperationError(err.code, `Lucca could not be read ${what}, nothing was changed: ${err.message}`);
  }
  throw err;
}

/**
 * An extra field as an operator names it: a Lucca field (`e_seniority`, `jobTitle`), the key it
 * is stored under (default: the name without `e_`), its type (a standard field's own; text by
 * default for a custom one). Refused (`invalid-extra-field`) with the reason when it cannot be.
 */
export function extraFieldSpec(input: { lucca: string; key?: string; type?: string }): ExtraFieldSpec {
  const standard = Object.hasOwn(STANDARD_EXTRA_FIELDS, input.lucca) ? STANDARD_EXTRA_FIELDS[input.lucca] : undefined;
  const spec: ExtraFieldSpec = {
    lucca: input.lucca,
    key: input.key ?? defaultExtraKey(input.lucca),
    type: (input.type ?? standard?.type ?? 'text') as ExtraFieldType,
  };
  const problem = extraFieldsProblem([spec]);
  if (problem) throw new OperationError('invalid-extra-field', problem);
  return spec;
}

/** The extra fields a company reads now, and the keys its runs are clearing. */
export const currentExtraFields = (company: CompanyDocument): ExtraFieldsConfig => extraFieldsOf(company);

/** The fields Lucca returns for this key, from one page of users: names and how many have a value. */
export interface LuccaFieldsList {
  companyId: string;
  /** Users of the page read (one request, up to 1,000). */
  sampled: number;
  fields: { lucca: string; kind: 'standard' | 'custom'; withValue: number; readAs: string | null }[];
}

/** Lists the extra fields the company's key can see, and the key each one is read into now (null: not read). */
export async function listLuccaFields(deps: OperationsDeps, input: { companyId: string }): Promise<LuccaFieldsList> {
  const company = companyToChange(await deps.repos.companies.get(input.companyId), input.companyId);
  const current = extraFieldsOf(company).fields;
  let sample: Awaited<ReturnType<LuccaClient['sampleExtraFields']>>;
  try {
    sample = await companyLuccaClient(deps, company).sampleExtraFields();
  } catch (err) {
    luccaFailure(err, 'to list its fields');
  }
  const fields = [...sample.fields].map(([lucca, withValue]) => ({
    lucca,
    kind: isCustomField(lucca) ? ('custom' as const) : ('standard' as const),
    withValue,
    readAs: current.find((s) => s.lucca.toLowerCase() === lucca.toLowerCase())?.key ?? null,
  }));
  fields.sort((a, b) => (a.kind === b.kind ? a.lucca.localeCompare(b.lucca) : a.kind === 'standard' ? -1 : 1));
  return { companyId: company._id, sampled: sample.users, fields };
}

/** A dry run of adding one extra field: counts, and a few of its values for the operator to see (never logged). */
export interface ExtraFieldPreview {
  companyId: string;
  field: ExtraFieldSpec;
  /** Lucca users read (the company's scope applies). */
  users: number;
  withValue: number;
  empty: number;
  /** Values that are not of the type chosen: those profiles keep what they hold. */
  unusable: number;
  /** Linked profiles the next run would give a value, or another one. */
  profilesGettingValue: number;
  /** Up to PREVIEW_SAMPLE_SIZE distinct values as they would be stored, formatted. Personal data: shown, never logged. */
  sample: string[];
}

/**
 * Reads the company's users (its scope applies) with one more field and says what the next run
 * would store: as many requests as a sync's read, nothing written. A field the key cannot see
 * fails as a run would (`lucca-hidden-field`, naming the permission to grant).
 */
export async function previewExtraField(
  deps: OperationsDeps,
  input: { companyId: string; field: ExtraFieldSpec },
): Promise<ExtraFieldPreview> {
  const company = companyToChange(await deps.repos.companies.get(input.companyId), input.companyId);
  const field = extraFieldSpec(input.field);
  const index = await deps.repos.profiles.loadCompanyIndex(company._id, company.lucca.baseUrl);
  const preview: ExtraFieldPreview = {
    companyId: company._id,
    field,
    users: 0,
    withValue: 0,
    empty: 0,
    unusable: 0,
    profilesGettingValue: 0,
    sample: [],
  };
  const seen = new Set<number>();
  const read = { scope: scopeOf(company) ?? undefined, extras: [field] };
  try {
    for await (const page of companyLuccaClient(deps, company).usersPages(START_OF_USERS, undefined, read)) {
      for (const item of page.items) {
        const id = (item as { id?: unknown } | null)?.id;
        if (typeof id !== 'number' || seen.has(id)) continue;
        seen.add(id);
        preview.users += 1;
        const value = normaliseExtraValue(rawExtraValue(item, field.lucca), field.type);
        if (!value.ok) {
          preview.unusable += 1;
          continue;
        }
        if (value.value === null) {
          preview.empty += 1;
          continue;
        }
        preview.withValue += 1;
        const shown = formatExtraValue(value.value);
        if (preview.sample.length < PREVIEW_SAMPLE_SIZE && !preview.sample.includes(shown)) preview.sample.push(shown);
        const profile = index.linked(id);
        if (profile && !sameExtraValue(profile.lucca?.extra?.[field.key], value.value)) {
          preview.profilesGettingValue += 1;
        }
      }
    }
  } catch (err) {
    luccaFailure(err, 'for the preview');
  }
  return preview;
}

export interface ExtraFieldsChange {
  companyId: string;
  previous: ExtraFieldsConfig;
  config: ExtraFieldsConfig;
  changed: boolean;
  connectionId: string;
}

async function saveExtraFields(
  deps: OperationsDeps,
  company: CompanyDocument,
  config: ExtraFieldsConfig,
): Promise<ExtraFieldsChange> {
  const previous = extraFieldsOf(company);
  const problem = extraFieldsProblem(config.fields);
  if (problem) throw new OperationError('invalid-extra-field', problem);
  const same =
    JSON.stringify(previous.fields) === JSON.stringify(config.fields) &&
    JSON.stringify(previous.cleared) === JSON.stringify(config.cleared);
  const base = { companyId: company._id, previous, config };
  if (same) return { ...base, changed: false, connectionId: company.lucca.connectionId ?? '' };
  // A connection change: a run in flight read with the old list, and would write a mix.
  await refuseWhileRunInFlight(deps, company._id);
  const connectionId = randomUUID();
  const saved = await deps.repos.companies.setExtraFields(
    company._id,
    { config, connectionId },
    company.lucca.connectionId,
    deps.now?.() ?? new Date(),
  );
  if (!saved) {
    throw new OperationError(
      'run-in-flight',
      `The Lucca connection of "${company._id}" changed while its extra fields were being changed. Nothing was changed: look at it again (status), then retry.`,
    );
  }
  return { ...base, changed: true, connectionId };
}

/**
 * Adds an extra field (or changes the key or type of one already read): a connection change,
 * refused while a run is in flight. The next run reads it and fills profiles (an update each,
 * reported); a key that was being cleared is read again instead.
 */
export async function addExtraField(
  deps: OperationsDeps,
  input: { companyId: string; field: ExtraFieldSpec },
): Promise<ExtraFieldsChange> {
  const company = companyToChange(await deps.repos.companies.get(input.companyId), input.companyId);
  const field = extraFieldSpec(input.field);
  const current = extraFieldsOf(company);
  const others = current.fields.filter((s) => s.lucca.toLowerCase() !== field.lucca.toLowerCase());
  return saveExtraFields(deps, company, {
    fields: [...others, field],
    cleared: current.cleared.filter((key) => key !== field.key),
  });
}

/**
 * Stops reading an extra field (by its Lucca name or its key). `keep`: profiles keep what they
 * hold under its key, no longer synced. `clear`: every run blanks what they hold (each a change
 * in its report, guarded like any blanking: a company-wide clear is blocked until applied anyway).
 */
export async function removeExtraField(
  deps: OperationsDeps,
  input: { companyId: string; field: string; values: 'keep' | 'clear' },
): Promise<ExtraFieldsChange> {
  const company = companyToChange(await deps.repos.companies.get(input.companyId), input.companyId);
  const current = extraFieldsOf(company);
  const removed = current.fields.find(
    (s) => s.key === input.field || s.lucca.toLowerCase() === input.field.toLowerCase(),
  );
  if (!removed) {
    throw new OperationError(
      'invalid-extra-field',
      `Company "${company._id}" does not read ${input.field}; it reads ${current.fields.map((s) => `${s.lucca} (as ${s.key})`).join(', ') || 'no extra field'}.`,
    );
  }
  return saveExtraFields(deps, company, {
    fields: current.fields.filter((s) => s !== removed),
    cleared: input.values === 'clear' ? [...new Set([...current.cleared, removed.key])] : current.cleared,
  });
}
