import { ApplicationFailure } from '@temporalio/common';
import type { Keyring } from '../db/api-key-cipher';
import type { CompanyDocument } from '../db/companies-repository';
import type { Repositories } from '../db/mongo';
import { failureType } from '../domain/failures';
import type { GuardReview } from '../domain/guards';
import { DEFAULT_STALL_TIMEOUT_MS, type ShutdownNotice } from './progress';
import type { OverrideOutcome } from './run-plan';

// What the activities of a sync run share: their dependencies, the run they act on, and the
// checks every one of them makes of the company.

export interface SyncActivityDeps {
  repos: Repositories;
  /** The secrets of LUCCA_SYNC_SECRET(S): decrypt the company's API key inside the activity, never outside. */
  keyring: Keyring;
  lucca: {
    timeoutMs: number;
    rateLimit: { limit: number; windowMs: number } | null;
    pageSize?: number;
    /** LUCCA_MAX_PAGE_BYTES; default the client's. */
    maxPageBytes?: number;
    /** LUCCA_ALLOWED_HOSTS: checked again before the key is sent, whatever the stored URL says. */
    allowedHosts: readonly string[];
  };
  now?: () => Date;
  /** How long an activity may go without progress before its attempt fails and is retried. */
  stallTimeoutMs?: number;
  /** The worker process's shutdown (SIGTERM): the read and the apply stop at their next checkpoint. */
  shutdown?: ShutdownNotice;
}

export interface SyncRunRef {
  companyId: string;
  runId: string;
}

/** The defaults filled in and the company checks, built once per activity from the worker's dependencies. */
export function runContext(deps: SyncActivityDeps) {
  const { repos } = deps;
  const now = deps.now ?? (() => new Date());
  const stallTimeoutMs = deps.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  const { shutdown } = deps;

  async function loadCompany(companyId: string) {
    const company = await repos.companies.get(companyId);
    if (!company) {
      throw ApplicationFailure.create({
        type: failureType('company-not-found'),
        message: `Company ${companyId} is not onboarded (no document in companies).`,
        nonRetryable: true,
      });
    }
    return company;
  }

  /**
   * The connection stamp the run reads with, recorded by its first read attempt; a later attempt
   * (or the apply) whose company no longer has that stamp must not go on with what was read.
   */
  function checkConnection(company: CompanyDocument, readWith: string | null, when: string, writes = 0): void {
    if ((company.lucca.connectionId ?? null) === readWith) return;
    throw ApplicationFailure.create({
      type: failureType('connection-changed'),
      message:
        `The Lucca connection of company ${company._id} (URL or key) changed ${when}; the run had read with ` +
        `the previous one, so ${writes === 0 ? 'nothing was written' : `it stopped after ${writes} profile writes`}. ` +
        `The next run reads with the new connection.`,
      nonRetryable: true,
    });
  }

  /**
   * An operator's override, checked when the run starts: the blocked run it names must still be its
   * company's latest finished run, still blocked, read with the same connection, and its reviewed
   * changes kept. Otherwise the override lifts nothing (the run says why if it is blocked).
   */
  async function resolveOverride(
    company: CompanyDocument,
    runId: string,
  ): Promise<{ review: GuardReview | null; override?: OverrideOutcome }> {
    const of = (await repos.syncRuns.get(runId))?.overrideOf;
    if (!of) return { review: null };
    const refuse = (refused: string) => ({ review: null, override: { of, refused } });
    const blocked = await repos.syncRuns.get(of);
    if (!blocked || blocked.companyId !== company._id || blocked.status !== 'blocked') {
      return refuse(`it is not a blocked run of company ${company._id}.`);
    }
    const latest = await repos.syncRuns.latestFinished(company._id, runId);
    if (latest?._id !== of) {
      return refuse(`run ${latest?._id ?? '?'} ended after it; review the latest run before applying it anyway.`);
    }
    if ((blocked.connectionId ?? null) !== (company.lucca.connectionId ?? null)) {
      return refuse("the company's Lucca connection changed since it was read.");
    }
    const people = await repos.reviewed.read(company._id, of);
    if (!people) return refuse('its reviewed changes are not kept (it was blocked by an earlier version).');
    return { review: { blockedRunId: of, people }, override: { of } };
  }

  return { repos, now, stallTimeoutMs, shutdown, loadCompany, checkConnection, resolveOverride };
}
