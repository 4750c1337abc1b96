// The fake's own controls over HTTP (`/__fake/*`), so that another process — the demo, a benchmark,
// a chaos script — can drive a standalone server the way tests drive it in-process. Each route is
// a thin layer over the same FakeLucca methods.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { describeSpecialCases, generateLuccaUsers, moveUsers, renameOrgUnit, type LuccaRawUser } from './dataset';
import type { FaultRule } from './faults';
import type { FakeLuccaServer } from './server';
import { UnknownTenantError, type PageHook } from './tenant';

const calendarDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD');

// Only the id is checked: tests plant malformed values on purpose to exercise the client.
const rawUser = z.looseObject({ id: z.number().int() });
const rawUsers = z.array(rawUser);
const usersBody = z.union([rawUsers, z.object({ users: rawUsers })]).transform((b) => ('users' in b ? b.users : b));

const apiKey = z.object({
  key: z.string().min(1),
  seeFormer: z.boolean().optional(),
  seeFuture: z.boolean().optional(),
  seeBirthDates: z.boolean().optional(),
  withheld: z.enum(['null', 'omitted']).optional(),
  hrSections: z.array(z.string()).optional(),
  principal: z.string().optional(),
  revoked: z.boolean().optional(),
  forbidden: z.boolean().optional(),
});
const apiKeysBody = z
  .union([z.array(apiKey), z.object({ apiKeys: z.array(apiKey) })])
  .transform((b) => ('apiKeys' in b ? b.apiKeys : b));

const rateLimit = z
  .union([
    z.literal(false),
    z.null(),
    z.object({ enabled: z.literal(false) }),
    z.object({ limit: z.number().int().positive(), windowMs: z.number().positive() }),
  ])
  .transform((rl) => (rl === null || rl === false || 'enabled' in rl ? false : rl));

const organisationFilters = z.enum(['apply', 'ignore']);

const tenantBody = z
  .object({
    users: rawUsers.optional(),
    apiKeys: z.array(apiKey).optional(),
    today: calendarDate.optional(),
    rateLimit: rateLimit.optional(),
    hosts: z.array(z.string().min(1)).optional(),
    organisationFilters: organisationFilters.optional(),
    modifiedFilter: organisationFilters.optional(),
    modifiedField: z.enum(['modifiedAt', 'modifiedOn']).optional(),
  })
  .optional()
  .transform((b) => b ?? {});

const orgUnit = z.object({ id: z.number().int(), name: z.string() });

const generateBody = z.object({
  size: z.number().int().nonnegative(),
  seed: z.number().int(),
  /** Default: the tenant's today. The tenant's clock is not changed. */
  today: calendarDate.optional(),
  startId: z.number().int().optional(),
  emailDomain: z.string().min(1).optional(),
  /** Default: FAKE_ORGANISATION. */
  organisation: z.object({ legalEntities: z.array(orgUnit), departments: z.array(orgUnit) }).optional(),
});

const moveBody = z
  .object({ userIds: z.array(z.number().int()), legalEntity: orgUnit.optional(), department: orgUnit.optional() })
  .refine((b) => b.legalEntity || b.department, 'give a legalEntity, a department or both');

const renameBody = z.union([
  z.object({ legalEntity: orgUnit }).transform((b) => ({ kind: 'legalEntity' as const, unit: b.legalEntity })),
  z.object({ department: orgUnit }).transform((b) => ({ kind: 'department' as const, unit: b.department })),
]);

const usersPatch = z.object({
  /** Replaces the user with the same id, or appends. */
  upsert: rawUsers.optional(),
  removeIds: z.array(z.number().int()).optional(),
});

const pageHookBody = usersPatch.extend({
  whenOffset: z.number().int().nonnegative().optional(),
  /** Replaces the whole dataset (before upsert/removeIds). */
  set: rawUsers.optional(),
});

const faultBody = z.object({
  id: z.string().min(1).optional(),
  tenant: z.string().min(1).optional(),
  path: z.string().startsWith('/').optional(),
  whenOffset: z.number().int().nonnegative().optional(),
  // JSON has no Infinity: "Infinity" or null stand for it.
  times: z
    .union([z.number().int().positive(), z.literal('Infinity'), z.null()])
    .optional()
    .transform((t) => (t === 'Infinity' || t === null ? Infinity : t)),
  kind: z.enum(['status', 'reset', 'truncate', 'slow', 'huge', 'long-field']),
  status: z.number().int().min(100).max(599).optional(),
  retryAfter: z.string().optional(),
  delayMs: z.number().nonnegative().optional(),
  bytes: z.number().int().positive().optional(),
  announceLength: z.boolean().optional(),
  field: z.string().min(1).optional(),
  length: z.number().int().nonnegative().optional(),
  userIds: z.array(z.number().int()).optional(),
});

function applyPatch(users: LuccaRawUser[], patch: z.infer<typeof usersPatch>): LuccaRawUser[] {
  const removed = new Set(patch.removeIds ?? []);
  const result = users.filter((u) => !removed.has(u.id));
  for (const user of (patch.upsert ?? []) as LuccaRawUser[]) {
    const index = result.findIndex((u) => u.id === user.id);
    if (index === -1) result.push(user);
    else result[index] = user;
  }
  return result;
}

const nameOf = (request: FastifyRequest): string => (request.params as { name: string }).name;

export const registerControlRoutes: FastifyPluginAsync<{ fake: FakeLuccaServer }> = async (app, { fake }) => {
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof z.ZodError) return reply.code(400).send({ error: z.prettifyError(error) });
    if (error instanceof UnknownTenantError) return reply.code(404).send({ error: error.message });
    if (error instanceof RangeError) return reply.code(400).send({ error: error.message });
    return reply.send(error);
  });

  const describe = (name: string) => {
    const tenant = fake.tenant(name);
    return {
      name,
      url: fake.tenantUrl(name),
      today: tenant.today,
      rateLimit: tenant.rateLimit,
      hosts: tenant.hosts,
      organisationFilters: tenant.organisationFilters,
      modifiedFilter: tenant.modifiedFilter,
      modifiedField: tenant.modifiedField,
      userCount: tenant.users.length,
      apiKeyCount: tenant.apiKeyCount,
    };
  };

  app.get('/health', async () => ({ ok: true }));

  app.get('/tenants', async () => fake.tenantNames().map(describe));

  app.post('/tenants/:name', async (request, reply) => {
    const body = tenantBody.parse(request.body);
    fake.addTenant(nameOf(request), { ...body, users: body.users as LuccaRawUser[] | undefined });
    return reply.code(201).send(describe(nameOf(request)));
  });

  app.get('/tenants/:name', async (request) => describe(nameOf(request)));

  app.get('/tenants/:name/users', async (request) => fake.getUsers(nameOf(request)));

  app.put('/tenants/:name/users', async (request) => {
    fake.setUsers(nameOf(request), usersBody.parse(request.body) as LuccaRawUser[]);
    return describe(nameOf(request));
  });

  app.patch('/tenants/:name/users', async (request) => {
    const patch = usersPatch.parse(request.body);
    fake.mutateUsers(nameOf(request), (users) => applyPatch(users, patch));
    return describe(nameOf(request));
  });

  app.post('/tenants/:name/generate', async (request) => {
    const name = nameOf(request);
    const body = generateBody.parse(request.body);
    const options = { ...body, today: body.today ?? fake.tenant(name).today };
    fake.setUsers(name, generateLuccaUsers(options));
    return { ...describe(name), specialCases: describeSpecialCases(options) };
  });

  app.put('/tenants/:name/today', async (request) => {
    fake.setToday(nameOf(request), z.object({ today: calendarDate }).parse(request.body).today);
    return describe(nameOf(request));
  });

  app.put('/tenants/:name/rate-limit', async (request) => {
    fake.setRateLimit(nameOf(request), rateLimit.parse(request.body));
    return describe(nameOf(request));
  });

  app.put('/tenants/:name/api-keys', async (request) => {
    fake.setApiKeys(nameOf(request), apiKeysBody.parse(request.body));
    return describe(nameOf(request));
  });

  app.put('/tenants/:name/organisation-filters', async (request) => {
    const { mode } = z.object({ mode: organisationFilters }).parse(request.body);
    fake.setOrganisationFilters(nameOf(request), mode);
    return describe(nameOf(request));
  });

  app.put('/tenants/:name/modified-filter', async (request) => {
    const { mode, field } = z
      .object({ mode: organisationFilters, field: z.enum(['modifiedAt', 'modifiedOn']).optional() })
      .parse(request.body);
    fake.setModifiedFilter(nameOf(request), mode, field);
    return describe(nameOf(request));
  });

  // A move or a rename touches many users: one call instead of upserting each of them.
  app.post('/tenants/:name/move', async (request) => {
    const { userIds, ...to } = moveBody.parse(request.body);
    fake.mutateUsers(nameOf(request), (users) => moveUsers(users, userIds, to));
    return describe(nameOf(request));
  });

  app.post('/tenants/:name/rename', async (request) => {
    const { kind, unit } = renameBody.parse(request.body);
    fake.mutateUsers(nameOf(request), (users) => renameOrgUnit(users, kind, unit));
    return describe(nameOf(request));
  });

  app.post('/tenants/:name/on-next-request', async (request, reply) => {
    const { whenOffset, set, ...patch } = pageHookBody.parse(request.body);
    const hook: PageHook = (users) => applyPatch((set as LuccaRawUser[] | undefined) ?? users, patch);
    fake.onNextRequest(nameOf(request), hook, { whenOffset });
    return reply.code(202).send({ armed: true });
  });

  app.get('/faults', async () => fake.listFaults().map(serializableFault));

  app.post('/faults', async (request, reply) => {
    const id = fake.addFault(faultBody.parse(request.body));
    return reply.code(201).send({ id });
  });

  app.delete('/faults', async () => {
    fake.clearFaults();
    return { cleared: true };
  });

  app.delete('/faults/:id', async (request, reply) => {
    const removed = fake.removeFault((request.params as { id: string }).id);
    return reply.code(removed ? 200 : 404).send({ removed });
  });

  app.get('/requests', async (request) => fake.requests((request.query as { tenant?: string }).tenant));

  app.delete('/requests', async () => {
    fake.clearRequests();
    return { cleared: true };
  });

  app.all('/*', async (_request, reply) => reply.code(404).send({ error: 'Unknown fake control route.' }));
};

function serializableFault(rule: FaultRule): Omit<FaultRule, 'times'> & { times?: number | 'Infinity' } {
  return { ...rule, times: rule.times === Infinity ? 'Infinity' : rule.times };
}
