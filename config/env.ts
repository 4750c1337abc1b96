import { isIP } from 'node:net';
import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';
import { z } from 'zod';
import { keyringOf, type Keyring } from '../db/api-key-cipher';
import { DEFAULT_MAX_PAGE_BYTES } from '../lucca/client';
import { isValidAllowedHostEntry } from '../lucca/urls';
import { TASK_QUEUE } from '../temporal/ids';

/** How long change records (personal data) are kept, by default (SYNC_CHANGES_RETENTION_DAYS). */
export const DEFAULT_CHANGES_RETENTION_DAYS = 365;

/** Where a server of the worker listens: an IP address and a port. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** `host:port` as a socket address is written (`[::]:9464` for IPv6). */
export function formatListenAddress({ host, port }: ListenAddress): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * An optional listening address: `<ip>:<port>` (`[::]:<port>` for IPv6) or a port alone (every
 * interface, `0.0.0.0`); empty or unset turns the server off. An IP, not a host name: Temporal's
 * metrics exporter binds socket addresses only.
 */
const listenAddress = z
  .string()
  .default('')
  .transform((v, ctx): ListenAddress | null => {
    const value = v.trim();
    if (value === '' || value === 'off') return null;
    const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9A-Fa-f:.]+)\]):(\d{1,5})$|^(\d{1,5})$/.exec(value);
    const host = m ? (m[1] ?? m[2] ?? '0.0.0.0') : '';
    const port = m ? Number(m[3] ?? m[4]) : NaN;
    if (!m || isIP(host) === 0 || !(port >= 1 && port <= 65535)) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be <ip>:<port> (e.g. 0.0.0.0:9464, [::]:9464), a port alone, or empty for off',
      });
      return z.NEVER;
    }
    return { host, port };
  });

/**
 * The process configuration, read once at start from the environment (and `.env` when the
 * entry point loads it). Temporal connection settings — address, namespace, TLS, API key — come
 * from `@temporalio/envconfig`, so Temporal Cloud works by environment alone.
 */
const envSchema = z.object({
  MONGODB_URI: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URI')
    .default('mongodb://127.0.0.1:27017'),
  MONGODB_DB: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,63}$/, 'must be a plain database name')
    .default('lucca_sync'),
  LUCCA_SYNC_SECRET: z.string().optional(),
  /** Several secrets, newest first: `<id>=<secret>,<id>=<secret>` (see `requireKeyring`). */
  LUCCA_SYNC_SECRETS: z.string().optional(),
  LUCCA_ALLOWED_HOSTS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .superRefine((entries, ctx) => {
      for (const entry of entries.filter((e) => !isValidAllowedHostEntry(e))) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: `"${entry}" is not an origin, a host or a *.host glob (e.g. http://127.0.0.1:4010, *.example.test:*)`,
        });
      }
    }),
  LUCCA_RATE_LIMIT: z
    .string()
    .default('50/60s')
    .transform((v, ctx) => {
      if (v === 'off') return null;
      const m = /^(\d+)\/(\d+)s$/.exec(v);
      if (!m) {
        ctx.addIssue({ code: 'custom', message: 'must look like 50/60s (requests per seconds) or off' });
        return z.NEVER;
      }
      return { limit: Number(m[1]), windowMs: Number(m[2]) * 1000 };
    }),
  LUCCA_TIMEOUT_MS: z.coerce.number().int().min(1000).max(120_000).default(30_000),
  /**
   * The most bytes one Lucca answer may take before the read stops (`lucca-too-large`). At least
   * 1 MiB (a real page of 1,000 users is about 1 MB); at most 256 MiB, past which one answer, once
   * decoded and parsed, would no longer leave a worker's heap to its other companies.
   */
  LUCCA_MAX_PAGE_BYTES: z.coerce
    .number()
    .int()
    .min(1024 * 1024)
    .max(256 * 1024 * 1024)
    .default(DEFAULT_MAX_PAGE_BYTES),
  /**
   * A sync activity whose checkpoint has not moved for this long fails its attempt (Temporal
   * retries it from the checkpoint). Above Lucca's longest legitimate wait (a 120 s Retry-After).
   */
  SYNC_STALL_TIMEOUT_MS: z.coerce.number().int().min(150_000).max(3_600_000).default(300_000),
  /**
   * Change records hold personal data (names, emails, dates as they changed): the sweeper removes
   * those of runs started more than this many days ago. The run documents (counts) are kept.
   */
  SYNC_CHANGES_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(DEFAULT_CHANGES_RETENTION_DAYS),
  TASK_QUEUE: z.string().min(1).default(TASK_QUEUE),
  /** The worker's Prometheus endpoint (`/metrics`): the Temporal SDK's metrics and the sync's own. Off by default. */
  WORKER_METRICS_ADDRESS: listenAddress,
  /** The worker's `/healthz` (live) and `/readyz` (polling and MongoDB answering). Off by default. */
  WORKER_HEALTH_ADDRESS: listenAddress,
  /**
   * The SMTP server email alerts go through, e.g. `smtps://user:password@smtp.example.com:465` or
   * `smtp://relay.internal:25` (STARTTLS when the server offers it). Unset: email targets are kept
   * but nothing is sent to them, and each delivery records why.
   */
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\/[^\s]+$/, 'must be an smtp:// or smtps:// URL')
    .optional(),
  /** The sender of email alerts. */
  ALERT_EMAIL_FROM: z.string().min(3).default('lucca-sync <lucca-sync@localhost>'),
  /**
   * The console's address as admins reach it (an origin): alerts link to the run's report there.
   * Unset: alerts give the CLI's report command instead.
   */
  CONSOLE_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  /**
   * Webhook targets must be https; origins listed here (comma-separated, e.g.
   * `http://127.0.0.1:9000`) may be plain http — a receiver on the same host, tests.
   */
  ALERT_WEBHOOK_HTTP_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim().replace(/\/+$/, ''))
        .filter(Boolean),
    ),
  /**
   * Temporal worker versioning, off when empty: the worker deployment this worker belongs to
   * (e.g. `lucca-sync`). On, the worker polls as version `<name>.<build id>` and serves only what
   * that version is given: runs stay on the build that started them (see docs/operating.md,
   * "Deploying workers"); a new version gets new work once it is made current.
   */
  WORKER_DEPLOYMENT_NAME: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_-]{0,100}$/, 'letters, digits, - and _ only')
    .default(''),
  /** The build id this worker announces; default the workflow bundle's content hash. */
  WORKER_BUILD_ID: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_.-]{0,100}$/, 'letters, digits, ., - and _ only')
    .default(''),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export type AppConfig = z.infer<typeof envSchema> & { temporal: ClientConnectConfig & { namespace: string } };

export class ConfigError extends Error {}

/** Settings whose value is never repeated in an error message. */
const SECRET_SETTINGS = new Set([
  'LUCCA_SYNC_SECRET',
  'ADMIN_PASSWORD',
  'ADMIN_PASSWORD_HASH',
  'CONSOLE_SESSION_SECRET',
  'SMTP_URL',
]);

/** A setting's value as an error may quote it: secrets hidden, a URI's credentials masked. */
function quoted(name: string, value: string | undefined): string {
  if (value === undefined) return '(unset)';
  if (SECRET_SETTINGS.has(name)) return '(hidden)';
  return JSON.stringify(value.replace(/^([a-z+]+:\/\/)[^@/]*@/i, '$1***@'));
}

/**
 * The refusal of a configuration that does not parse: every offending setting named, with the
 * value it was given, so an operator sees what to fix without reading code.
 */
export function configurationError(
  what: string,
  issues: readonly z.core.$ZodIssue[],
  env: NodeJS.ProcessEnv,
): ConfigError {
  const lines = issues.map((i) => {
    const name = String(i.path[0] ?? '');
    return `${name}=${quoted(name, env[name])}: ${i.message}`;
  });
  return new ConfigError(`Invalid ${what}: ${lines.join('; ')}`);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw configurationError('configuration', parsed.error.issues, env);
  const temporal = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  if (!temporal.connectionOptions.address) temporal.connectionOptions.address = '127.0.0.1:7233';
  return { ...parsed.data, temporal: { ...temporal, namespace: temporal.namespace ?? 'default' } };
}

const MIN_SECRET_LENGTH = 32;
const SECRET_ID = /^[A-Za-z0-9_.-]{1,40}$/;
/** The id `LUCCA_SYNC_SECRET` goes by: name it so in `LUCCA_SYNC_SECRETS` when rotating it out. */
export const DEFAULT_SECRET_ID = 'default';

/**
 * The secrets that encrypt Lucca API keys at rest, required only by the code paths that read or
 * write keys: `LUCCA_SYNC_SECRET` (one secret, id `default`), or `LUCCA_SYNC_SECRETS`
 * (`<id>=<secret>,…`, newest first: the first encrypts, all decrypt) while rotating.
 */
export function requireKeyring(config: AppConfig): Keyring {
  const one = config.LUCCA_SYNC_SECRET;
  const many = config.LUCCA_SYNC_SECRETS;
  if (one && many) {
    throw new ConfigError(
      'Both LUCCA_SYNC_SECRET and LUCCA_SYNC_SECRETS are set: use one. While rotating, LUCCA_SYNC_SECRETS lists every secret, the old one as default=<its value>.',
    );
  }
  if (!one && !many) {
    throw new ConfigError(
      'LUCCA_SYNC_SECRET is not set: it is the key that encrypts Lucca API keys at rest (32+ random characters, e.g. `openssl rand -base64 32`). Keep the same value for every worker and CLI.',
    );
  }
  const entries = many
    ? many.split(',').map((entry, i) => {
        const at = entry.indexOf('=');
        const id = entry.slice(0, Math.max(0, at)).trim();
        if (at < 0 || !SECRET_ID.test(id)) {
          throw new ConfigError(
            `LUCCA_SYNC_SECRETS entry ${i + 1} is not <id>=<secret> with an id of letters, digits, ".", "_" or "-".`,
          );
        }
        return { id, secret: entry.slice(at + 1).trim() };
      })
    : [{ id: DEFAULT_SECRET_ID, secret: one! }];
  for (const { id, secret } of entries) {
    if (secret.length < MIN_SECRET_LENGTH) {
      throw new ConfigError(`Secret "${id}" is too short: use at least ${MIN_SECRET_LENGTH} random characters.`);
    }
  }
  const ids = entries.map((e) => e.id);
  const repeated = ids.find((id, i) => ids.indexOf(id) !== i);
  if (repeated) throw new ConfigError(`LUCCA_SYNC_SECRETS names secret "${repeated}" twice.`);
  return keyringOf(entries);
}
