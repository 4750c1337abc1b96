import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConfigError, configurationError } from '../config/env';
import { hashPassword, isPasswordHash } from './password';

/** The console's own settings, read once at start; the rest (MongoDB, Temporal, secret) is `config/env`. */
const consoleEnvSchema = z.object({
  CONSOLE_HOST: z.string().min(1).default('127.0.0.1'),
  CONSOLE_PORT: z.coerce.number().int().min(0).max(65535).default(3400),
  ADMIN_USER: z.string().min(1).default('admin'),
  ADMIN_PASSWORD_HASH: z.string().optional(),
  ADMIN_PASSWORD: z.string().optional(),
  CONSOLE_SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  TEMPORAL_UI_URL: z.url().default('http://127.0.0.1:8233'),
  CONSOLE_SECURE_COOKIE: z.enum(['auto', 'true', 'false']).default('auto'),
});

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export interface ConsoleSettings {
  host: string;
  port: number;
  adminUser: string;
  /** scrypt hash (see password.ts); a plain ADMIN_PASSWORD is hashed at start and then forgotten. */
  adminPasswordHash: string;
  sessionSecret: string;
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
  let adminPasswordHash: string;
  if (e.ADMIN_PASSWORD_HASH) {
    if (!isPasswordHash(e.ADMIN_PASSWORD_HASH)) {
      throw new ConfigError(
        'ADMIN_PASSWORD_HASH is not a scrypt hash made by `npm run console -- hash-password` (scrypt$N$r$p$salt$hash).',
      );
    }
    adminPasswordHash = e.ADMIN_PASSWORD_HASH;
  } else if (e.ADMIN_PASSWORD) {
    adminPasswordHash = await hashPassword(e.ADMIN_PASSWORD);
  } else {
    throw new ConfigError(
      'No admin password: set ADMIN_PASSWORD_HASH (from `npm run console -- hash-password`) and ADMIN_USER, or ADMIN_PASSWORD for local use.',
    );
  }
  return {
    host: e.CONSOLE_HOST,
    port: e.CONSOLE_PORT,
    adminUser: e.ADMIN_USER,
    adminPasswordHash,
    // Without a configured secret, sessions simply do not survive a restart of the console.
    sessionSecret: e.CONSOLE_SESSION_SECRET ?? randomBytes(32).toString('base64'),
    temporalUiUrl: e.TEMPORAL_UI_URL.replace(/\/+$/, ''),
    secureCookie:
      e.CONSOLE_SECURE_COOKIE === 'auto' ? !LOOPBACK.has(e.CONSOLE_HOST) : e.CONSOLE_SECURE_COOKIE === 'true',
  };
}
