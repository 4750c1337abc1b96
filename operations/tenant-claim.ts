import { randomUUID } from 'node:crypto';
import os from 'node:os';
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

/** How long a placement may wait for another of its tenant, and who to tell when it starts waiting. */
export interface TenantClaimOptions {
  /** At most this long (default `TENANT_CLAIM_WAIT_MS`), then `tenant-busy`. */
  waitMs?: number;
  /** Told once, when the placement starts waiting for another one's claim. */
  onWait?: (wait: TenantClaimWait) => void;
}

/** A placement waiting for another of its tenant: the company that one places (an id), and the bound. */
export interface TenantClaimWait {
  companyId: string;
  waitMs: number;
}

/** What an operator is told while a placement waits (ids only: the tenant is theirs, its URL is known). */
export function tenantClaimWaitMessage(wait: TenantClaimWait): string {
  return (
    `Waiting for another onboarding or scope change of the same Lucca tenant (company ${wait.companyId}), ` +
    `at most ${Math.round(wait.waitMs / 1000)} s…`
  );
}

/**
 * Runs `place` (an overlap check and the write it allows) while holding the tenant's claim, so that
 * two onboardings or scope changes of one Lucca tenant racing each other check one after the other
 * and the second sees the first's company. Waits for another holder at most `TENANT_CLAIM_WAIT_MS`,
 * then refuses (`tenant-busy`), nothing changed; a claim older than `TENANT_CLAIM_LAPSE_MS` is broken.
 * Says when it starts waiting (`onWait`), as a read waiting for another read of its tenant does.
 * Released when `place` ends, whether it threw or not.
 */
export async function withTenantClaim<T>(
  deps: OperationsDeps,
  input: { baseUrl: string; companyId: string } & TenantClaimOptions,
  place: () => Promise<T>,
): Promise<T> {
  const waitMs = input.waitMs ?? TENANT_CLAIM_WAIT_MS;
  const claim = await deps.repos.tenantClaims.hold(
    input.baseUrl,
    { companyId: input.companyId, holder: `${os.hostname()} pid ${process.pid} ${randomUUID()}` },
    {
      lapseMs: TENANT_CLAIM_LAPSE_MS,
      waitMs,
      pauseMs: () => POLL_MS,
      now: () => (deps.now?.() ?? new Date()).getTime(),
      onWait: (held) => input.onWait?.({ companyId: held.companyId, waitMs }),
    },
  );
  if (!claim.held) {
    const other = claim.heldBy;
    throw new OperationError(
      'tenant-busy',
      `Another onboarding or scope change of Lucca ${input.baseUrl}` +
        (other ? ` (company ${other.companyId}, since ${other.at.toISOString()})` : '') +
        ` was still checking and saving after ${Math.round(waitMs / 1000)} s, so "${input.companyId}" was not checked ` +
        `against it. Nothing was changed: try again in a minute.`,
    );
  }
  try {
    return await place();
  } finally {
    await claim.release();
  }
}
