import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OperationsDeps } from './context';
import { OperationError } from './errors';

/**
 * How long a placement's claim on its tenant stands without its holder releasing it: the check and
 * the write are a few store reads and writes and Temporal's in-flight check (two 5 s deadlines), so
 * a claim this old belongs to a process that crashed or hangs.
 */
export const TENANT_CLAIM_LAPSE_MS = 60_000;
/** The longest a placement waits for another of its tenant: past the lapse, so a crashed holder never refuses it. */
export const TENANT_CLAIM_WAIT_MS = TENANT_CLAIM_LAPSE_MS + 15_000;
const POLL_MS = 100;

/**
 * Runs `place` (an overlap check and the write it allows) while holding the tenant's claim, so that
 * two onboardings or scope changes of one Lucca tenant racing each other check one after the other
 * and the second sees the first's company. Waits for another holder at most `TENANT_CLAIM_WAIT_MS`,
 * then refuses (`tenant-busy`), nothing changed; a claim older than `TENANT_CLAIM_LAPSE_MS` is broken.
 * Released when `place` ends, whether it threw or not.
 */
export async function withTenantClaim<T>(
  deps: OperationsDeps,
  input: { baseUrl: string; companyId: string; waitMs?: number },
  place: () => Promise<T>,
): Promise<T> {
  const { tenantClaims } = deps.repos;
  const now = () => (deps.now?.() ?? new Date()).getTime();
  const holder = `${os.hostname()} pid ${process.pid} ${randomUUID()}`;
  const began = now();
  const waitMs = input.waitMs ?? TENANT_CLAIM_WAIT_MS;
  for (;;) {
    if (await tenantClaims.claim(input.baseUrl, { companyId: input.companyId, holder, at: new Date(now()) })) break;
    const other = await tenantClaims.current(input.baseUrl);
    if (other && now() - other.at.getTime() > TENANT_CLAIM_LAPSE_MS) {
      await tenantClaims.release(input.baseUrl, other.holder);
      continue;
    }
    if (now() - began > waitMs) {
      throw new OperationError(
        'tenant-busy',
        `Another onboarding or scope change of Lucca ${input.baseUrl}` +
          (other ? ` (company ${other.companyId}, since ${other.at.toISOString()})` : '') +
          ` was still checking and saving after ${Math.round(waitMs / 1000)} s, so "${input.companyId}" was not checked ` +
          `against it. Nothing was changed: try again in a minute.`,
      );
    }
    await sleep(POLL_MS);
  }
  try {
    return await place();
  } finally {
    await tenantClaims.release(input.baseUrl, holder);
  }
}
