import { COMPANY_ID_PATTERN, COUNT_KEYS } from '../domain/types';
import { REPORT_ACTIONS } from '../operations';
import { PROFILE_ID_PATTERN, PROFILE_STATUSES, RUN_ID_PATTERN } from './data';

/*
 * The schemas the routes share. Path parameters are validated on every route, page or API (an
 * invalid id is a 404). The JSON API's responses go through their schemas (fast-json-stringify),
 * so only the listed properties ever leave the server: no API key, ciphertext or internal field.
 * The OpenAPI description (/api/openapi.json) is generated from these schemas.
 */

// --- Path parameters ------------------------------------------------------------------------

export const COMPANY_PARAM = { type: 'string', pattern: COMPANY_ID_PATTERN.source } as const;
export const RUN_PARAM = { type: 'string', pattern: RUN_ID_PATTERN.source } as const;
export const PROFILE_PARAM = { type: 'string', pattern: PROFILE_ID_PATTERN.source } as const;

/** The path parameters of a route: all required, nothing else. */
export const params = (properties: Record<string, object>) => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});

export const companyParams = params({ companyId: COMPANY_PARAM });
export const runParams = params({ companyId: COMPANY_PARAM, runId: RUN_PARAM });
export const profileParams = params({ companyId: COMPANY_PARAM, profileId: PROFILE_PARAM });

// --- The JSON API's representations ---------------------------------------------------------

export const nullable = (schema: Record<string, unknown>) => ({ anyOf: [schema, { type: 'null' }] });
const dateTime = { type: 'string', format: 'date-time' } as const;
export const nullableDateTime = nullable(dateTime);

const countsSchema = {
  type: 'object',
  properties: Object.fromEntries(COUNT_KEYS.map((k) => [k, { type: 'integer' }])),
};
const errorSchema = { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } };

const runSummarySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    trigger: { type: 'string', enum: ['schedule', 'manual', 'onboarding'] },
    mode: { type: 'string', enum: ['apply', 'dry-run'] },
    status: { type: 'string', enum: ['running', 'succeeded', 'failed', 'blocked'] },
    requestedBy: nullable({ type: 'string' }),
    startedAt: dateTime,
    finishedAt: nullableDateTime,
    counts: nullable(countsSchema),
    error: nullable(errorSchema),
  },
};

export const runSchema = {
  type: 'object',
  properties: {
    ...runSummarySchema.properties,
    companyId: { type: 'string' },
    allowMassDeactivation: {
      type: 'boolean',
      description: 'whether the run was asked to apply a blocked run anyway (overrideOf names that run)',
    },
    overrideOf: nullable({ type: 'string', description: 'the blocked run this one applies anyway' }),
    durationMs: nullable({ type: 'integer' }),
    progress: {
      type: 'object',
      properties: {
        pagesRead: { type: 'integer' },
        usersRead: { type: 'integer' },
        phase: { type: 'string', enum: ['reading', 'planning', 'applying', 'done'] },
      },
    },
    guard: nullable({
      type: 'object',
      properties: {
        deactivations: { type: 'integer' },
        limit: { type: 'integer' },
        activeProfiles: { type: 'integer' },
      },
    }),
    profileWrites: { type: 'integer' },
    workflowId: { type: 'string' },
    temporalRunId: { type: 'string' },
    temporalUrl: { type: 'string' },
  },
};

export const companySchema = {
  type: 'object',
  properties: {
    companyId: { type: 'string' },
    name: { type: 'string' },
    timezone: { type: 'string' },
    luccaBaseUrl: { type: 'string' },
    apiKeyHint: nullable({
      type: 'string',
      description: 'The last 4 characters of the stored key; the key itself is never returned.',
    }),
    connected: { type: 'boolean' },
    every: { type: 'string' },
    fullReadEvery: { type: 'string' },
    paused: { type: 'boolean' },
    nextRunAt: nullableDateTime,
    workflowRunning: { type: 'boolean' },
    worker: nullable({
      type: 'object',
      description:
        "while the company's workflow runs: whether a worker polls its task queue (with none, requests wait and no run starts)",
      properties: { taskQueue: { type: 'string' }, serving: { type: 'boolean' }, lastPollAt: nullableDateTime },
    }),
    lastRun: nullable(runSummarySchema),
  },
};

const diffSchema = {
  type: 'object',
  additionalProperties: { type: 'object', properties: { from: {}, to: {} } },
};
const reasonSchema = {
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' }, description: { type: 'string' } },
};
export const changeSchema = {
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    action: { type: 'string', enum: [...REPORT_ACTIONS] },
    luccaUserId: nullable({ type: 'integer' }),
    profileId: nullable({ type: 'string' }),
    fields: nullable(diffSchema),
    reasons: { type: 'array', items: reasonSchema },
  },
};

const syncedFieldsProps = {
  firstName: nullable({ type: 'string' }),
  lastName: nullable({ type: 'string' }),
  email: nullable({ type: 'string' }),
  birthDate: nullable({ type: 'string', format: 'date' }),
  contractStart: nullable({ type: 'string', format: 'date' }),
  contractEnd: nullable({ type: 'string', format: 'date' }),
};
export const profileSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    ...syncedFieldsProps,
    status: { type: 'string', enum: [...PROFILE_STATUSES] },
    lucca: nullable({
      type: 'object',
      properties: {
        userId: { type: 'integer' },
        linkedAt: dateTime,
        lastSeenAt: dateTime,
        removedAt: nullableDateTime,
      },
    }),
    updatedAt: dateTime,
  },
};

export const apiError = { type: 'object', properties: { error: { type: 'string' }, message: { type: 'string' } } };
