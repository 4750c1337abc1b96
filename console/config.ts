import { randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';
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
  CONSOLE_PUBLIC_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. https://console.example.com' })
    .optional(),
  CONSOLE_TRUSTED_PROXIES: z
    .string()
    .default('')
    .transform((text) =>
      text
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
    )
    .superRefine((entries, ctx) => {
      for (const entry of entries) {
        if (!isAddressOrCidr(entry)) {
          ctx.addIssue({
            code: 'custom',
            message: `"${entry}" is neither an IP address nor a CIDR range (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8)`,
          });
        }
      }
    }),
  CONSOLE_SECURE_COOKIE: z
    .undefined({
      error: 'is replaced by CONSOLE_PUBLIC_URL: the cookie is Secure (and HSTS sent) when that URL is https',
    })
    .optional(),
});

/** What Fastify's `trustProxy` list takes: single addresses or CIDR ranges, IPv4 or IPv6. */
function isAddressOrCidr(entry: string): boolean {
  if (entry.includes('/')) {
    try {
      ipaddr.parseCIDR(entry);
      return true;
    } catch {
      return false;
    }
  }
  return ipaddr.IPv4.isValidFourPartDecimal(entry) || (entry.includes(':') && ipaddr.IPv6.isValid(entry));
}

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
   * Where admins reach the console (origin). https: the session and CSRF cookies are Secure and
   * every answer carries HSTS, whatever address the console itself listens on (a TLS proxy in front).
   */
  publicUrl: string;
  /**
   * The proxies whose X-Forwarded-For / -Proto are believed (addresses or CIDRs); from anyone else
   * those headers are ignored and the client is the TCP peer.
   */
  trustedProxies: string[];
}

/** The cookies are Secure and HSTS is sent when admins reach the console over https. */
export const isPublicHttps = (settings: Pick<ConsoleSettings, 'publicUrl'>): boolean =>
  settings.publicUrl.startsWith('https:');

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
  const trustedProxies = e.CONSOLE_TRUSTED_PROXIES;
  let publicUrl: string;
  if (e.CONSOLE_PUBLIC_URL) {
    publicUrl = new URL(e.CONSOLE_PUBLIC_URL).origin;
  } else if (LOOPBACK.has(e.CONSOLE_HOST)) {
    const host = e.CONSOLE_HOST.includes(':') ? `[${e.CONSOLE_HOST}]` : e.CONSOLE_HOST;
    publicUrl = `http://${host}:${e.CONSOLE_PORT}`;
  } else {
    throw new ConfigError(
      `CONSOLE_HOST="${e.CONSOLE_HOST}" is not loopback: set CONSOLE_PUBLIC_URL to the https address admins use (the console behind a TLS proxy, listed in CONSOLE_TRUSTED_PROXIES), or to an http:// address to accept plain http.`,
    );
  }
  if (publicUrl.startsWith('https:') && trustedProxies.length === 0) {
    throw new ConfigError(
      `CONSOLE_PUBLIC_URL is https but the console itself speaks plain http: list the TLS proxy in front of it in CONSOLE_TRUSTED_PROXIES (its address or CIDR; it must send X-Forwarded-For and X-Forwarded-Proto), or the login's Secure cookie is never set.`,
    );
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
    publicUrl,
    trustedProxies,
  };
}
