import { Command, InvalidArgumentError, Option } from 'commander';
import { COMPANY_ID_PATTERN } from '../../domain/types';
import { AUDIT_RETENTION_DAYS, auditToCsv, auditToJson, listAudit, type OperationsContext } from '../../operations';
import { AUDIT_EXPORT_LIMIT, listConsoleAudit, parseSince } from '../../operations/audit';
import { OperationError } from '../../operations/errors';
import { companyNotFound } from '../../operations/errors';
import { formatDateTime } from '../../operations/terminal-format';

type WithContext = <T>(fn: (ctx: OperationsContext) => Promise<T>) => Promise<T>;

function slug(value: string): string {
  if (!COMPANY_ID_PATTERN.test(value)) throw new InvalidArgumentError('expected a company slug such as acme');
  return value;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/**
 * `audit`: a company's audit log — who did what, when, and how it ended — as text, JSON or CSV;
 * or, with `--console`, the console's own (logins, logouts, lock-outs, account changes).
 */
export function auditCommand(withContext: WithContext): Command {
  return new Command('audit')
    .description(
      `A company's audit log, newest first: every state-changing action from the console or the CLI, who did it, when, and the outcome (kept ${AUDIT_RETENTION_DAYS} days)`,
    )
    .addOption(new Option('--company <id>', 'company id (slug, e.g. acme)').argParser(slug).conflicts('console'))
    .option('--console', "the console's own log instead: logins, logouts, lock-outs and `admin` account changes")
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'csv']).default('text'))
    .option('--since <when>', 'only entries since a date (2026-06-01), a date-time, or a duration ago (24h, 7d)')
    .option('--limit <n>', 'at most this many entries', positiveInteger, AUDIT_EXPORT_LIMIT)
    .addHelpText(
      'after',
      '\nExamples:\n  npm run cli -- audit --company acme\n  npm run cli -- audit --company acme --format csv --since 30d > acme-audit.csv\n  npm run cli -- audit --console --since 7d',
    )
    .action(
      async (opts: {
        company?: string;
        console?: boolean;
        format: 'text' | 'json' | 'csv';
        since?: string;
        limit: number;
      }) => {
        const since = opts.since === undefined ? undefined : parseSince(opts.since);
        const company = opts.company;
        if (!company && !opts.console)
          throw new OperationError('usage', "Give --company <id>, or --console for the console's own log.");
        await withContext(async (ctx) => {
          const query = { limit: opts.limit, ...(since ? { since } : {}) };
          const entries = company
            ? await listAudit(ctx, { companyId: company, ...query })
            : await listConsoleAudit(ctx.repos.auditLog, query);
          if (company && entries.length === 0 && !(await ctx.repos.companies.get(company))) {
            throw companyNotFound(company);
          }
          if (opts.format === 'json') console.log(auditToJson(entries));
          else if (opts.format === 'csv') process.stdout.write(auditToCsv(entries));
          else if (entries.length === 0)
            console.log(`No audit entries for ${company ?? 'the console'}${since ? ' in that period' : ''}.`);
          else {
            for (const e of entries) {
              const params = Object.entries(e.params)
                .map(([k, v]) => `${k}=${String(v)}`)
                .join(' ');
              const outcome = e.code ? `${e.outcome} (${e.code})` : e.outcome;
              console.log(
                `${formatDateTime(e.at)}  ${e.actor} [${e.source}]  ${e.action}  ${outcome}${params ? `  ${params}` : ''}`,
              );
            }
          }
        });
      },
    );
}
