import { createWriteStream, existsSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/env';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import { GUARD_KINDS } from '../domain/guards';
import { COMPANY_ID_PATTERN, type ChangeAction } from '../domain/types';
import {
  audited,
  changeSchedule,
  getCompaniesStatus,
  getSyncReport,
  offboardCompany,
  onboardCompany,
  openOperationsContext,
  OperationError,
  recordAudit,
  REPORT_ACTIONS,
  requestSync,
  rotateApiKeys,
  scheduleAudit,
  setGuard,
  type AuditActor,
  type ScheduleChange,
  type OperationsContext,
} from '../operations';
import {
  addEmailTarget,
  addWebhookTarget,
  listAlertTargets,
  removeAlertTarget,
  sendTestAlert,
} from '../operations/alerts';
import { DEFAULT_CHANGES_PER_ACTION } from '../operations/report';
import {
  CLI_EXPORT_LABELS,
  EXPORT_FORMATS,
  exportAudit,
  exportReport,
  type ExportFormat,
} from '../operations/report-export';
import { changeScope, describeScope, previewScope, scopeAuditParams } from '../operations/scope';
import { tenantClaimWaitMessage, type TenantClaimOptions } from '../operations/tenant-claim';
import {
  addExtraField,
  extraFieldSpec,
  listLuccaFields,
  previewExtraField,
  removeExtraField,
} from '../operations/fields';
import { defaultRequestedBy, ticketAuditDetails } from '../operations/sync';
import {
  describeExtraFields,
  formatDateTime,
  formatExtraFieldPreview,
  formatLuccaFields,
  formatReport,
  formatRunHeader,
  formatScopePreview,
  formatStatus,
} from '../operations/terminal-format';
import { adminCommand } from './lib/admin-commands';
import { auditCommand } from './lib/audit-command';
import { waitWithProgress } from '../operations/terminal-progress';
import { readApiKey } from './lib/read-api-key';
import { replayCheckCommand } from './lib/replay-check-command';

/** Exit codes: 0 only for success; a finished-but-unsuccessful run has its own code. */
export const EXIT = { ok: 0, error: 1, runFailed: 2, runBlocked: 3 } as const;

const program = new Command('lucca-sync')
  .description('Operate lucca-sync: onboard companies, sync, schedule, read reports.')
  .option('--settings <path>', 'read settings from this file (default: .env when present)')
  .showHelpAfterError('(add --help for usage)')
  .hook('preAction', (cmd) => {
    const { settings } = cmd.opts<{ settings?: string }>();
    if (settings) process.loadEnvFile(settings);
    else if (existsSync('.env')) process.loadEnvFile('.env');
  });

const companyOption = () =>
  new Option('--company <id>', 'company id (slug, e.g. acme)').makeOptionMandatory().argParser(slug);

function slug(value: string): string {
  if (!COMPANY_ID_PATTERN.test(value)) throw new InvalidArgumentError('expected a company slug such as acme');
  return value;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
}

/** A repeatable `--legal-entity <id>` / `--department <id>`: the ids given so far, this one added. */
function luccaIds(value: string, previous: number[] | undefined): number[] {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('expected a Lucca id (a positive whole number)');
  return [...(previous ?? []), n];
}

/** The scope given by `--legal-entity` / `--department`, or undefined when neither was. */
function scopeOption(opts: { legalEntity?: number[]; department?: number[] }) {
  if (opts.legalEntity === undefined && opts.department === undefined) return undefined;
  return { legalEntityIds: opts.legalEntity ?? [], departmentIds: opts.department ?? [] };
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** A Lucca user id: a whole number, 0 or more. */
function luccaUserId(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError('expected a Lucca user id (a whole number)');
  return n;
}

async function withContext<T>(fn: (ctx: OperationsContext) => Promise<T>): Promise<T> {
  const ctx = await openOperationsContext(loadConfig());
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

const printJson = (value: unknown) => console.log(JSON.stringify(value, null, 2));

/** Who the audit log says acted: the OS user, or the handle a command was given. */
const cliActor = (actor = defaultRequestedBy()): AuditActor => ({ actor, source: 'cli' });

/** An onboarding or scope change waiting for another of its tenant says so (on stderr: stdout may be JSON). */
const sayClaimWait: TenantClaimOptions = { onWait: (wait) => console.error(tenantClaimWaitMessage(wait)) };

program
  .command('onboard')
  .description(
    'Check the Lucca key with one real call, store the company (key encrypted), create its schedule and start a first sync. Re-run to update it.',
  )
  .addOption(companyOption())
  .requiredOption('--name <name>', "the company's display name")
  .requiredOption('--lucca-url <url>', 'the Lucca domain, e.g. https://acme.ilucca.net')
  .option('--api-key-file <path>', 'read the API key from this file')
  .option('--api-key-env <VAR>', 'read the API key from this environment variable')
  .addOption(new Option('--api-key <key>').hideHelp())
  .option('--every <duration>', 'sync frequency, at least 4h (e.g. 4h, 12h, 24h, 1d)', '24h')
  .option('--timezone <tz>', "the company's IANA time zone (decides 'today' for contract dates)", 'Europe/Paris')
  .option('--wait', 'wait for the first sync and print its summary')
  .option(
    '--relink',
    'the company moved to another Lucca tenant: unlink its profiles (kept) so the first sync attaches them again by email',
  )
  .option(
    '--legal-entity <id>',
    'only people of this Lucca legal entity (repeatable); with --department, people in both',
    luccaIds,
  )
  .option('--department <id>', 'only people of this Lucca department (repeatable)', luccaIds)
  .option(
    '--allow-overlap',
    "accept a scope that overlaps another company's on the same Lucca tenant (people in both are synced into both; recorded)",
  )
  .addHelpText(
    'after',
    '\nWithout --api-key-file or --api-key-env, the key is read from stdin.\nWithout --legal-entity and --department, a new company covers the whole tenant and an existing one keeps its scope (see the scope command).\nExample:\n  npm run cli -- onboard --company acme --name "Acme" --lucca-url https://acme.ilucca.net --api-key-file ./acme.key --legal-entity 3',
  )
  .action(
    async (opts: {
      company: string;
      name: string;
      luccaUrl: string;
      apiKeyFile?: string;
      apiKeyEnv?: string;
      apiKey?: string;
      every: string;
      timezone: string;
      wait?: boolean;
      relink?: boolean;
      legalEntity?: number[];
      department?: number[];
      allowOverlap?: boolean;
    }) => {
      if (opts.apiKey !== undefined) {
        throw new OperationError(
          'api-key-argument',
          'The API key is never accepted as an argument (it would show in `ps` and shell history): use --api-key-file, --api-key-env or stdin.',
        );
      }
      const apiKey = await readApiKey(opts);
      await withContext(async (ctx) => {
        const existed = (await ctx.repos.companies.get(opts.company)) !== null;
        const result = await audited(
          ctx,
          cliActor(),
          {
            companyId: opts.company,
            action: opts.relink ? 'relink' : existed ? 'change-connection' : 'onboard',
            params: {
              every: opts.every,
              timezone: opts.timezone,
              relink: opts.relink ?? false,
              allowOverlap: opts.allowOverlap ?? false,
              ...scopeAuditParams(scopeOption(opts)),
            },
            details: (r) => ({
              luccaUrl: r.baseUrl,
              unlinkedProfiles: r.unlinkedProfiles,
              connectionChanged: r.connectionChanged,
              scope: describeScope(r.scope),
              overlapsWith: r.overlaps.map((o) => o.companyId).join(',') || null,
            }),
          },
          () =>
            onboardCompany(ctx, {
              companyId: opts.company,
              name: opts.name,
              luccaUrl: opts.luccaUrl,
              apiKey,
              every: opts.every,
              timezone: opts.timezone,
              relink: opts.relink ?? false,
              scope: scopeOption(opts),
              allowOverlap: opts.allowOverlap ?? false,
              claim: sayClaimWait,
            }),
        );
        console.log(
          `${result.created ? 'Onboarded' : 'Updated'} ${result.companyId}: Lucca ${result.baseUrl} (key …${result.apiKeyHint}${result.luccaPrincipal ? `, "${result.luccaPrincipal}"` : ''}), every ${result.every}, schedule ${result.schedule}.`,
        );
        console.log(`Scope: ${describeScope(result.scope)}.`);
        for (const o of result.overlaps) {
          console.log(`Overlap allowed with "${o.name}" (${o.companyId}: ${describeScope(o.scope)}), as asked.`);
        }
        if (result.unlinkedProfiles > 0) {
          console.log(
            `${result.unlinkedProfiles} profiles unlinked from the previous Lucca tenant (kept); the first sync attaches them again by email.`,
          );
        }
        const { queued } = result.firstSync;
        console.log(
          queued ? `First sync (trigger onboarding) ${queued.message}.` : 'First sync requested (trigger onboarding).',
        );
        if (opts.wait) process.exitCode = exitCodeFor(await waitWithProgress(ctx, result.firstSync));
      });
    },
  );

program
  .command('scope')
  .description(
    'Preview or change which legal entities and departments of its Lucca tenant a company covers (part of its connection: refused while a run is in flight)',
  )
  .addOption(companyOption())
  .option('--legal-entity <id>', 'people of this Lucca legal entity (repeatable)', luccaIds)
  .option('--department <id>', 'people of this Lucca department (repeatable)', luccaIds)
  .option('--whole-tenant', 'the whole Lucca tenant (no legal entity or department)')
  .option(
    '--preview',
    'a dry run, nothing written: people per legal entity and department, and the profiles the scope would attach, create, keep or deactivate',
  )
  .option('--allow-overlap', "accept a scope that overlaps another company's on the same tenant (recorded)")
  .option(
    '--preview-token <token>',
    'save only if the tenant still matches that preview (its people per unit, the overlapping companies); refused otherwise',
  )
  .option('--json', 'print the preview or the result as JSON')
  .addHelpText(
    'after',
    '\nExamples:\n  npm run cli -- scope --company cse-lyon --legal-entity 3 --preview\n  npm run cli -- scope --company cse-lyon --legal-entity 3 --preview-token <token printed by the preview>',
  )
  .action(
    async (opts: {
      company: string;
      legalEntity?: number[];
      department?: number[];
      wholeTenant?: boolean;
      preview?: boolean;
      allowOverlap?: boolean;
      previewToken?: string;
      json?: boolean;
    }) => {
      const asked = scopeOption(opts);
      if ((asked === undefined) === !opts.wholeTenant) {
        throw new OperationError('usage', 'Give --legal-entity and/or --department, or --whole-tenant (not both).');
      }
      const scope = asked ?? { legalEntityIds: [], departmentIds: [] };
      await withContext(async (ctx) => {
        if (opts.preview) {
          const preview = await previewScope(ctx, { companyId: opts.company, scope });
          if (opts.json) printJson(preview);
          else console.log(formatScopePreview(preview));
          return;
        }
        const result = await audited(
          ctx,
          cliActor(),
          {
            companyId: opts.company,
            action: 'change-scope',
            params: { allowOverlap: opts.allowOverlap ?? false, ...scopeAuditParams(scope) },
            details: (r) => ({
              changed: r.changed,
              previous: describeScope(r.previous),
              overlapsWith: r.overlaps.map((o) => o.companyId).join(',') || null,
            }),
          },
          () =>
            changeScope(ctx, {
              companyId: opts.company,
              scope,
              allowOverlap: opts.allowOverlap ?? false,
              ...(opts.previewToken ? { previewToken: opts.previewToken } : {}),
              claim: sayClaimWait,
            }),
        );
        if (opts.json) return printJson(result);
        if (!result.changed) {
          console.log(`${result.companyId} already covers ${describeScope(result.scope)}: nothing changed.`);
          return;
        }
        console.log(
          `${result.companyId} now covers ${describeScope(result.scope)} (was ${describeScope(result.previous)}); new connection stamp ${result.connectionId}.`,
        );
        for (const o of result.overlaps) {
          console.log(`Overlap allowed with "${o.name}" (${o.companyId}: ${describeScope(o.scope)}), as asked.`);
        }
        console.log(
          `The next run reads only these people: it attaches or creates those now inside, and deactivates (out-of-scope, guarded) the linked profiles of those outside. \`scope --preview\` shows how many; \`sync --company ${result.companyId} --wait\` runs it now.`,
        );
      });
    },
  );

program
  .command('fields')
  .description(
    "List, preview, add or remove a company's extra Lucca fields, stored under the profile's lucca.extra (part of its connection: refused while a run is in flight)",
  )
  .addOption(companyOption())
  .option(
    '--add <field>',
    'a Lucca field to read: a custom one by its Lucca name (e_seniority) or a standard one (jobTitle, manager…)',
  )
  .option('--key <key>', 'the key it is stored under in lucca.extra (default: the name without e_)')
  .addOption(
    new Option('--type <type>', 'its type (a custom field: text by default)').choices([
      'text',
      'date',
      'number',
      'boolean',
      'reference',
    ]),
  )
  .option(
    '--preview',
    'with --add: a dry run, nothing written: how many profiles get a value, and a few values (shown here, never logged)',
  )
  .option('--remove <field>', 'stop reading a field (its Lucca name or its key)')
  .option('--keep-values', 'with --remove: profiles keep what they hold under its key')
  .option('--clear-values', 'with --remove: runs blank what profiles hold under its key (reported, guarded)')
  .option('--json', 'print the list, the preview or the result as JSON')
  .addHelpText(
    'after',
    '\nWithout --add or --remove, lists the fields Lucca returns for this key (one request).\nExamples:\n  npm run cli -- fields --company acme\n  npm run cli -- fields --company acme --add e_seniority --type date --preview\n  npm run cli -- fields --company acme --add e_seniority --type date\n  npm run cli -- fields --company acme --remove e_seniority --keep-values',
  )
  .action(
    async (opts: {
      company: string;
      add?: string;
      key?: string;
      type?: string;
      preview?: boolean;
      remove?: string;
      keepValues?: boolean;
      clearValues?: boolean;
      json?: boolean;
    }) => {
      if (opts.add !== undefined && opts.remove !== undefined) {
        throw new OperationError('usage', 'Give --add or --remove, not both.');
      }
      if (opts.remove !== undefined && !opts.keepValues === !opts.clearValues) {
        throw new OperationError('usage', 'With --remove, say what profiles keep: --keep-values or --clear-values.');
      }
      if (opts.preview && opts.add === undefined) throw new OperationError('usage', '--preview goes with --add.');
      await withContext(async (ctx) => {
        if (opts.add === undefined && opts.remove === undefined) {
          const list = await listLuccaFields(ctx, { companyId: opts.company });
          if (opts.json) printJson(list);
          else console.log(formatLuccaFields(list));
          return;
        }
        if (opts.add !== undefined) {
          const field = extraFieldSpec({ lucca: opts.add, key: opts.key, type: opts.type });
          if (opts.preview) {
            const preview = await previewExtraField(ctx, { companyId: opts.company, field });
            if (opts.json) printJson(preview);
            else console.log(formatExtraFieldPreview(preview));
            return;
          }
        }
        const result = await audited(
          ctx,
          cliActor(),
          {
            companyId: opts.company,
            action: 'change-fields',
            params:
              opts.add !== undefined
                ? { add: opts.add, key: opts.key ?? null, type: opts.type ?? null }
                : { remove: opts.remove!, values: opts.clearValues ? 'clear' : 'keep' },
            details: (r) => ({ changed: r.changed, fields: describeExtraFields(r.config) }),
          },
          () =>
            opts.add !== undefined
              ? addExtraField(ctx, {
                  companyId: opts.company,
                  field: extraFieldSpec({ lucca: opts.add, key: opts.key, type: opts.type }),
                })
              : removeExtraField(ctx, {
                  companyId: opts.company,
                  field: opts.remove!,
                  values: opts.clearValues ? 'clear' : 'keep',
                }),
        );
        if (opts.json) return printJson(result);
        if (!result.changed) {
          console.log(`${result.companyId} already reads ${describeExtraFields(result.config)}: nothing changed.`);
          return;
        }
        console.log(
          `${result.companyId} now reads ${describeExtraFields(result.config)}; new connection stamp ${result.connectionId}.`,
        );
        console.log(
          `The next run reads it: each profile whose values change is an update in its report (blanking guarded). \`sync --company ${result.companyId} --wait\` runs it now.`,
        );
      });
    },
  );

program
  .command('sync')
  .description(
    "Ask for a sync now (update-with-start: works even if the company's workflow is not running; the answer names the request its run will carry). With no worker serving the task queue, the request is queued and the answer says so within seconds",
  )
  .addOption(companyOption())
  .option('--dry-run', 'compute and store the plan, write no profile')
  .addOption(
    new Option(
      '--kind <kind>',
      'what the run reads: full (everyone, the default), incremental (the users modified since the last complete read; a full read when one is due), dates (no Lucca read: contract dates rolled to today from the store)',
    ).choices(['full', 'incremental', 'dates']),
  )
  .addOption(
    new Option(
      '--lucca-user <id>',
      'read that one Lucca user and apply it (same rules, guards and report; outside the scope: deactivated out-of-scope)',
    )
      .argParser(luccaUserId)
      .conflicts(['kind', 'applyAnyway', 'allowMassDeactivation']),
  )
  .option(
    '--apply-anyway [run-id]',
    "apply the company's latest run, blocked by the mass-change guards, anyway: the changes of the people it planned, no others (refused if the latest run is not blocked, or is not the run named: the one you reviewed)",
  )
  .option('--allow-mass-deactivation', 'the same as --apply-anyway without a run id (its earlier name)')
  .option('--wait', 'wait for the run, show progress, print its summary; exit 0 only if it succeeded')
  .option('--timeout <minutes>', 'with --wait, give up waiting after this many minutes', positiveInteger, 60)
  .option('--requested-by <name>', 'who asks (shown in reports)', defaultRequestedBy())
  .option(
    '--request-key <key>',
    'your own id for this request (default: a new UUID, printed): sent again, the same key is the same request — one run, the same answer',
  )
  .addHelpText(
    'after',
    `\nExit codes with --wait: ${EXIT.ok} succeeded, ${EXIT.runFailed} failed, ${EXIT.runBlocked} blocked, ${EXIT.error} error (also when no worker has served the task queue for a minute: the request stays queued).\nEach request carries a new key; sent twice (a retry), the same key is one request.\nExamples:\n  npm run cli -- sync --company acme --dry-run --wait\n  npm run cli -- sync --company acme --lucca-user 416 --wait`,
  )
  .action(
    async (opts: {
      company: string;
      dryRun?: boolean;
      applyAnyway?: string | true;
      allowMassDeactivation?: boolean;
      wait?: boolean;
      timeout: number;
      requestedBy: string;
      requestKey?: string;
      kind?: 'full' | 'incremental' | 'dates';
      luccaUser?: number;
    }) => {
      await withContext(async (ctx) => {
        const dryRun = opts.dryRun ?? false;
        const kind = opts.luccaUser !== undefined ? 'one-user' : (opts.kind ?? 'full');
        // Either flag is "apply anyway", decoded once: the run reviewed when named, else the latest blocked one.
        const applyAnyway =
          typeof opts.applyAnyway === 'string'
            ? { blockedRunId: opts.applyAnyway }
            : opts.applyAnyway || opts.allowMassDeactivation
              ? {}
              : null;
        const ticket = await audited(
          ctx,
          cliActor(opts.requestedBy),
          {
            companyId: opts.company,
            action: applyAnyway ? 'apply-anyway' : dryRun ? 'dry-run' : 'sync',
            params: {
              dryRun,
              kind,
              ...(opts.luccaUser !== undefined ? { luccaUserId: opts.luccaUser } : {}),
              ...(applyAnyway?.blockedRunId ? { blockedRunId: applyAnyway.blockedRunId } : {}),
            },
            details: ticketAuditDetails,
          },
          () =>
            requestSync(ctx, {
              companyId: opts.company,
              dryRun,
              ...(applyAnyway ? { applyAnyway } : {}),
              requestedBy: opts.requestedBy,
              ...(opts.requestKey ? { requestKey: opts.requestKey } : {}),
              kind,
              ...(opts.luccaUser !== undefined ? { luccaUserId: opts.luccaUser } : {}),
            }),
        );
        const override = ticket.overrideOf ? `, applying blocked run ${ticket.overrideOf} anyway` : '';
        const reads =
          opts.luccaUser !== undefined ? `, Lucca user ${opts.luccaUser}` : kind !== 'full' ? `, ${kind}` : '';
        const what = `${opts.company}${opts.dryRun ? ' (dry run)' : ''}${reads}${override}`;
        if (ticket.queued) {
          console.log(`Sync of ${what} ${ticket.queued.message} (request key ${ticket.requestKey}).`);
        } else {
          const ahead = ticket.ahead ? `, ${ticket.ahead} run(s) ahead` : '';
          console.log(
            `Sync requested for ${what} — request ${ticket.requestId} (key ${ticket.requestKey}) on workflow ${ticket.workflowId}${ahead}.`,
          );
        }
        if (opts.wait) {
          process.exitCode = exitCodeFor(await waitWithProgress(ctx, ticket, { timeoutMs: opts.timeout * 60_000 }));
        }
      });
    },
  );

program
  .command('schedule')
  .description('Change how often a company syncs, or pause / resume its schedule')
  .addOption(companyOption())
  .addOption(
    new Option('--every <duration>', 'new frequency, at least 4h (e.g. 6h, 24h)').conflicts([
      'pause',
      'resume',
      'fullReadEvery',
    ]),
  )
  .addOption(
    new Option(
      '--full-read-every <duration>',
      'how often a scheduled run reads everyone at least, 4h to 24h (default 24h); between full reads, scheduled runs read only the users Lucca modified',
    ).conflicts(['pause', 'resume']),
  )
  .addOption(new Option('--pause', 'pause scheduled syncs (sync now still works)').conflicts(['resume']))
  .option('--resume', 'resume scheduled syncs')
  .addHelpText(
    'after',
    '\nExamples:\n  npm run cli -- schedule --company acme --every 12h\n  npm run cli -- schedule --company acme --full-read-every 12h',
  )
  .action(
    async (opts: { company: string; every?: string; fullReadEvery?: string; pause?: boolean; resume?: boolean }) => {
      const change: ScheduleChange | null =
        opts.every !== undefined
          ? { every: opts.every }
          : opts.fullReadEvery !== undefined
            ? { fullReadEvery: opts.fullReadEvery }
            : opts.pause
              ? { pause: true }
              : opts.resume
                ? { resume: true }
                : null;
      if (!change) {
        throw new OperationError(
          'usage',
          'Say what to change: --every <duration>, --full-read-every <duration>, --pause or --resume.',
        );
      }
      await withContext(async (ctx) => {
        const r = await audited(ctx, cliActor(), { companyId: opts.company, ...scheduleAudit(change) }, () =>
          changeSchedule(ctx, { companyId: opts.company, change }),
        );
        console.log(
          `${r.companyId}: every ${r.every} (a full read at least every ${r.fullReadEvery}), ${r.paused ? 'paused' : `next run ${formatDateTime(r.nextRunAt)}`}.`,
        );
      });
    },
  );

program
  .command('report')
  .description("A run's report: header, counts, then the changes by action with field-level from → to and reasons")
  .addOption(companyOption())
  .option('--run <runId>', 'a specific run (default: the latest)')
  .addOption(new Option('--action <action>', 'only this kind of change').choices(REPORT_ACTIONS as ChangeAction[]))
  .option('--limit <n>', 'changes listed per action', positiveInteger, DEFAULT_CHANGES_PER_ACTION)
  .option('--all', 'list every change')
  .option('--json', 'print the report as JSON')
  .addOption(
    new Option(
      '--format <format>',
      'export every change as a file: csv or json (streamed; --action and --limit do not apply)',
    ).choices([...EXPORT_FORMATS]),
  )
  .option('--output <file>', 'with --format: write the export to this file (readable by you only) instead of stdout')
  .addHelpText(
    'after',
    '\nExamples:\n  npm run cli -- report --company acme\n  npm run cli -- report --company acme --action update --all\n  npm run cli -- report --company acme --run <run-id> --format csv --output report.csv',
  )
  .action(
    async (opts: {
      company: string;
      run?: string;
      action?: ChangeAction;
      limit: number;
      all?: boolean;
      json?: boolean;
      format?: ExportFormat;
      output?: string;
    }) => {
      if (opts.output && !opts.format) program.error('error: --output needs --format csv or --format json');
      await withContext(async (ctx) => {
        if (opts.format) {
          const input = {
            companyId: opts.company,
            ...(opts.run ? { runId: opts.run } : {}),
            format: opts.format,
            labels: CLI_EXPORT_LABELS,
          };
          const file = await audited(ctx, cliActor(), exportAudit(input), () => exportReport(ctx, input));
          // The report names people: a file of it is its owner's alone.
          const to = opts.output ? createWriteStream(opts.output, { mode: 0o600 }) : process.stdout;
          await pipeline(file.body, to);
          if (opts.output) console.error(`Run ${file.run._id} of ${file.run.companyId} exported to ${opts.output}.`);
          return;
        }
        const report = await getSyncReport(ctx, {
          companyId: opts.company,
          ...(opts.run ? { runId: opts.run } : {}),
          ...(opts.action ? { action: opts.action } : {}),
          perAction: opts.all ? 'all' : opts.limit,
        });
        if (opts.json) printJson(report);
        else console.log(formatReport(report).join('\n'));
      });
    },
  );

program
  .command('alerts')
  .description(
    "A company's alert targets (webhooks, email addresses) and latest deliveries; add or remove a target, send a test message",
  )
  .addOption(companyOption())
  .addOption(
    new Option('--add-webhook <url>', 'add a webhook (https); prints its signing secret, once').conflicts([
      'addEmail',
      'remove',
      'test',
    ]),
  )
  .addOption(new Option('--add-email <address>', 'add an email address').conflicts(['remove', 'test']))
  .addOption(new Option('--remove <targetId>', 'remove a target (its id, as listed)').conflicts(['test']))
  .option('--test', 'send a test message to every target')
  .option('--json', 'print the targets and deliveries as JSON')
  .addHelpText(
    'after',
    '\nExamples:\n  npm run cli -- alerts --company acme --add-webhook https://hooks.example.com/lucca-sync\n  npm run cli -- alerts --company acme --add-email it-admin@acme.example\n  npm run cli -- alerts --company acme --test\n  npm run cli -- alerts --company acme',
  )
  .action(
    async (opts: {
      company: string;
      addWebhook?: string;
      addEmail?: string;
      remove?: string;
      test?: boolean;
      json?: boolean;
    }) => {
      await withContext(async (ctx) => {
        const companyId = opts.company;
        if (opts.addWebhook !== undefined) {
          const url = opts.addWebhook;
          const r = await audited(
            ctx,
            cliActor(),
            {
              companyId,
              action: 'add-alert-target',
              params: { kind: 'webhook' },
              details: (x) => ({ targetId: x.id }),
            },
            () => addWebhookTarget(ctx, { companyId, url }),
          );
          console.log(
            `Added webhook ${r.id}. Its signing secret, shown this once (configure the receiver with it):\n${r.secret}`,
          );
          return;
        }
        if (opts.addEmail !== undefined) {
          const address = opts.addEmail;
          const r = await audited(
            ctx,
            cliActor(),
            { companyId, action: 'add-alert-target', params: { kind: 'email' }, details: (x) => ({ targetId: x.id }) },
            () => addEmailTarget(ctx, { companyId, address }),
          );
          console.log(`Added email target ${r.id}.`);
          return;
        }
        if (opts.remove !== undefined) {
          const targetId = opts.remove;
          await audited(ctx, cliActor(), { companyId, action: 'remove-alert-target', params: { targetId } }, () =>
            removeAlertTarget(ctx, { companyId, targetId }),
          );
          console.log(`Removed alert target ${targetId}.`);
          return;
        }
        if (opts.test) {
          const r = await audited(
            ctx,
            cliActor(),
            { companyId, action: 'test-alert', details: (x) => ({ alertId: x.alertId }) },
            () => sendTestAlert(ctx, { companyId }),
          );
          console.log(
            `Test message ${r.alertId} on its way to ${r.targets} target(s) (workflow ${r.workflowId}); \`alerts --company ${companyId}\` shows the deliveries.`,
          );
          return;
        }
        const view = await listAlertTargets(ctx, { companyId });
        if (opts.json) {
          printJson(view);
          return;
        }
        const lines = [`Alert targets of ${companyId}:`];
        for (const w of view.webhooks) lines.push(`  ${w.id}  webhook  ${w.url}`);
        for (const e of view.emails)
          lines.push(`  ${e.id}  email    ${e.address}${view.smtpConfigured ? '' : '  (SMTP_URL not set here)'}`);
        if (view.webhooks.length + view.emails.length === 0) lines.push('  (none)');
        lines.push('Latest deliveries:');
        for (const d of view.deliveries) {
          lines.push(
            `  ${formatDateTime(d.createdAt)}  ${d.event.padEnd(10)} ${d.targetId}  ${d.status}, ${d.attempts} attempt(s)${d.lastResponse ? `, last answer ${d.lastResponse}` : ''}${d.lastError && d.status !== 'delivered' ? ` (${d.lastError})` : ''}`,
          );
        }
        if (view.deliveries.length === 0) lines.push('  (none yet)');
        console.log(lines.join('\n'));
      });
    },
  );

program
  .command('status')
  .description('Companies: frequency, paused, last run, next scheduled run')
  .addOption(new Option('--company <id>', 'only this company').argParser(slug))
  .option('--json', 'print as JSON')
  .action(async (opts: { company?: string; json?: boolean }) => {
    await withContext(async (ctx) => {
      const statuses = await getCompaniesStatus(ctx, opts.company ? { companyId: opts.company } : {});
      if (opts.json) printJson(statuses);
      else console.log(formatStatus(statuses).join('\n'));
    });
  });

program
  .command('offboard')
  .description(
    "Delete the schedule, cancel the company's workflow (a run in flight ends failed, code cancelled), erase its API key and remove its runs' staging; profiles and reports are kept",
  )
  .addOption(companyOption())
  .action(async (opts: { company: string }) => {
    await withContext(async (ctx) => {
      const r = await audited(
        ctx,
        cliActor(),
        {
          companyId: opts.company,
          action: 'offboard',
          details: (o) => ({ workflow: o.workflow, apiKeyErased: o.apiKeyErased }),
        },
        () => offboardCompany(ctx, { companyId: opts.company, requestedBy: defaultRequestedBy() }),
      );
      const workflow = { 'not-running': 'not running', ended: 'cancelled and ended', 'still-running': 'cancelling' }[
        r.workflow
      ];
      console.log(
        `Offboarded ${r.companyId}: schedule ${r.scheduleDeleted ? 'deleted' : 'already gone'}, workflow ${workflow}, API key ${r.apiKeyErased ? 'erased' : 'already erased'}, working data of ${r.workingDataRemoved.length} run(s) removed. Profiles and reports are kept.`,
      );
      if (r.workflow === 'still-running' || r.runsStillRunning.length > 0) {
        console.error(
          `The company's run in flight has not stopped yet (is a worker running?): it ends as cancelled once a worker picks the cancellation up, and drops its staging then; the sweeper removes anything left. Run offboard again to check.`,
        );
      }
      if (r.journalsKept.length > 0) {
        console.error(
          `Kept the journal of an unfinished rewrite (a later run may have written the same profiles): ${r.journalsKept.map((id) => `syncJournal.${id}`).join(', ')}. See "Offboarding, the sweeper and retention" in docs/operating.md.`,
        );
      }
    });
  });

program
  .command('guard')
  .description(
    "Set one of a company's mass-change guards: a plan that would deactivate, blank a field, change emails, reactivate or overwrite a name or a date on more linked profiles than max(min-count, max-percent% of the linked active profiles), never more than half of them, is blocked until confirmed",
  )
  .addOption(companyOption())
  .addOption(new Option('--kind <kind>', 'the guard').choices([...GUARD_KINDS]).makeOptionMandatory())
  .requiredOption('--max-percent <n>', 'percent of the linked active profiles (0-100)', wholeNumber)
  .requiredOption('--min-count <n>', 'profiles allowed whatever the percentage', wholeNumber)
  .action(async (opts: { company: string; kind: string; maxPercent: number; minCount: number }) => {
    await withContext(async (ctx) => {
      const guards = await audited(
        ctx,
        cliActor(),
        {
          companyId: opts.company,
          action: 'guard',
          params: { kind: opts.kind, maxPercent: opts.maxPercent, minCount: opts.minCount },
        },
        () => setGuard(ctx, { companyId: opts.company, ...opts }),
      );
      console.log(`Guards of ${opts.company}:`);
      for (const [kind, g] of Object.entries(guards)) {
        console.log(
          `  ${kind.padEnd(10)} max(${g.minCount}, ${g.maxPercent}% of linked active profiles), at most half of them`,
        );
      }
    });
  });

program
  .command('rotate-keys')
  .description(
    'Re-encrypt every stored Lucca API key and webhook signing secret under the newest secret (the first of LUCCA_SYNC_SECRETS), so an older secret can be removed',
  )
  .option('--json', 'print as JSON')
  .action(async (opts: { json?: boolean }) => {
    await withContext(async (ctx) => {
      const r = await rotateApiKeys(ctx);
      // Recorded per company whose stored key or webhook secrets it changed, or could not.
      const params = (companyId: string) => ({
        secretId: r.secretId,
        ...(r.webhooks.byCompany[companyId] ? { webhookSecrets: r.webhooks.byCompany[companyId] } : {}),
      });
      const rotated = new Set([...r.reencrypted, ...Object.keys(r.webhooks.byCompany)]);
      for (const companyId of rotated) {
        await recordAudit(
          ctx,
          cliActor(),
          { companyId, action: 'rotate-key', params: params(companyId) },
          { outcome: 'ok', code: null },
        );
      }
      const failed = [
        ...r.undecryptable.map((companyId) => ({ companyId, code: 'undecryptable' })),
        ...r.webhooks.undecryptable.map((target) => ({
          companyId: target.split('/')[0]!,
          code: 'undecryptable-webhook-secret',
        })),
      ];
      for (const { companyId, code } of failed) {
        await recordAudit(
          ctx,
          cliActor(),
          { companyId, action: 'rotate-key', params: params(companyId) },
          { outcome: 'error', code },
        );
      }
      if (opts.json) printJson(r);
      else {
        console.log(
          `Keys under secret "${r.secretId}": ${r.reencrypted.length} re-encrypted, ${r.alreadyCurrent.length} already were; webhook secrets: ${r.webhooks.reencrypted} re-encrypted, ${r.webhooks.alreadyCurrent} already were.`,
        );
        if (r.changedMeanwhile.length) {
          console.log(`Onboarded again meanwhile (their new key kept): ${r.changedMeanwhile.join(', ')}`);
        }
        if (r.webhooks.changedMeanwhile.length) {
          console.log(
            `Alert targets changed meanwhile (run rotate-keys again): ${r.webhooks.changedMeanwhile.join(', ')}`,
          );
        }
      }
      if (r.undecryptable.length) {
        console.error(
          `No secret decrypts the key of: ${r.undecryptable.join(', ')}. Add the secret they were stored with to LUCCA_SYNC_SECRETS, or onboard them again with a fresh key; keep every old secret until this reports none.`,
        );
        process.exitCode = EXIT.error;
      }
      if (r.webhooks.undecryptable.length) {
        console.error(
          `No secret decrypts the signing secret of webhook(s): ${r.webhooks.undecryptable.join(', ')}. Add the secret they were stored with to LUCCA_SYNC_SECRETS, or remove and add those webhooks again (a new signing secret for their receivers).`,
        );
        process.exitCode = EXIT.error;
      }
      if (r.webhooks.changedMeanwhile.length) process.exitCode = EXIT.error;
    });
  });

program.addCommand(adminCommand());

program.addCommand(auditCommand(withContext));

program.addCommand(replayCheckCommand());

/** Prints the finished run's summary; exit 0 only for a succeeded run. */
function exitCodeFor(run: SyncRunDocument): number {
  console.log(formatRunHeader(run).join('\n'));
  console.log(`Full report: npm run cli -- report --company ${run.companyId} --run ${run._id}`);
  return run.status === 'succeeded' ? EXIT.ok : run.status === 'blocked' ? EXIT.runBlocked : EXIT.runFailed;
}

/** One line on stderr; the stack only when LOG_LEVEL=debug. */
function describeError(err: unknown): string {
  if (err instanceof OperationError || err instanceof ConfigError) return err.message;
  if (err instanceof Error) return process.env.LOG_LEVEL === 'debug' ? (err.stack ?? err.message) : err.message;
  return String(err);
}

program.parseAsync().then(
  () => process.exit(process.exitCode ?? EXIT.ok),
  (err: unknown) => {
    console.error(`error: ${describeError(err).replace(/\s*\n\s*/g, ' ')}`);
    process.exit(EXIT.error);
  },
);
