import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConfigError, configurationError } from '../config/env';
import { USERNAME_PATTERN } from '../domain/console-accounts';
import type { SessionLifetime } from '../db/console-sessions-repository';
import { hashPassword, isPasswordHash } from './password';

/** The console's own settings, read once at start; the rest (MongoDB, Temporal, secret) is `config/env`. */
const consoleEnvSchema = z.object({
  CONSOLE_HOST: z.string().min(1).default('127.0.0.1'),
  CONSOLE_PORT: z.coerce.number().int().min(0).max(65535).default(3400),
  ADMIN_USER: z
    .string()
    .trim()
    .toLowerCase()
    .regex(USERNAME_PATTERN, 'must be 2 to 64 lower-case letters, digits or . _ @ -')
    .default('admin'),
  ADMIN_PASSWORD_HASH: z.string().optional(),
  ADMIN_PASSWORD: z.string().optional(),
  CONSOLE_SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  CONSOLE_SESSION_IDLE_MINUTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 60)
    .default(30),
  CONSOLE_SESSION_MAX_HOURS: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 24)
    .default(8),
  TEMPORAL_UI_URL: z.url().default('http://127.0.0.1:8233'),
  CONSOLE_SECURE_COOKIE: z.enum(['auto', 'true', 'false']).default('auto'),
});

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export interface ConsoleSettings {
  host: string;
  port: number;
  /**
   * ADMIN_USER with ADMIN_PASSWORD_HASH (or ADMIN_PASSWORD, hashed at start and then forgotten): an
   * operator account created at start when none of that name exists — a bootstrap; accounts are
   * otherwise managed with `npm run cli -- admin`.
   */
  bootstrapAdmin: { username: string; passwordHash: string } | null;
  sessionSecret: string;
  /** No CONSOLE_SESSION_SECRET: a random one, so sessions end with the process and differ per replica. */
  sessionSecretGenerated: boolean;
  session: SessionLifetime;
  temporalUiUrl: string;
  /**
   * The session cookie's Secure flag. `auto`: off only when the console listens on loopback (plain
   * http on the admin's own machine); anywhere else the console must sit behind TLS.
   */
  secureCookie: boolean;
}

export async function loadConsoleSettings(env: NodeJS.ProcessEnv = process.env): Promise<ConsoleSettings> {
  const parsed = consoleEnvSchema.safeParse(env);
  if (!parsed.success) throw configurationError('console configuration', parsed.error.issues, env);
  const e = parsed.data;
  let adminPasswordHash: string | null = null;
  if (e.ADMIN_PASSWORD_HASH) {
    if (!isPasswordHash(e.ADMIN_PASSWORD_HASH)) {
      throw new ConfigError(
        'ADMIN_PASSWORD_HASH is not a scrypt hash made by `npm run console -- hash-password` (scrypt$N$r$p$salt$hash).',
      );
    }
    adminPasswordHash = e.ADMIN_PASSWORD_HASH;
  } else if (e.ADMIN_PASSWORD) {
    adminPasswordHash = await hashPassword(e.ADMIN_PASSWORD);
  }
  return {
    host: e.CONSOLE_HOST,
    port: e.CONSOLE_PORT,
    bootstrapAdmin: adminPasswordHash ? { username: e.ADMIN_USER, passwordHash: adminPasswordHash } : null,
    // Without a configured secret, sessions simply do not survive a restart of the console.
    sessionSecret: e.CONSOLE_SESSION_SECRET ?? randomBytes(32).toString('base64'),
    sessionSecretGenerated: !e.CONSOLE_SESSION_SECRET,
    session: {
      idleMs: e.CONSOLE_SESSION_IDLE_MINUTES * 60_000,
      absoluteMs: e.CONSOLE_SESSION_MAX_HOURS * 3_600_000,
    },
    temporalUiUrl: e.TEMPORAL_UI_URL.replace(/\/+$/, ''),
    secureCookie:
      e.CONSOLE_SECURE_COOKIE === 'auto' ? !LOOPBACK.has(e.CONSOLE_HOST) : e.CONSOLE_SECURE_COOKIE === 'true',
  };
}
