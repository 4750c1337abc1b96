import { DefaultLogger, Runtime, type LogLevel, type LogMetadata } from '@temporalio/worker';
import { pino, type DestinationStream, type Logger } from 'pino';
import { describeError, type ErrorSummary } from '../activities/errors';
import { RUN_DURATION_BUCKETS_SECONDS, SYNC_METRICS } from '../activities/metrics';

/**
 * The process logger: structured JSON lines. Callers log ids and counts, never keys or people;
 * errors, wherever they sit in a line's fields, are written as name, code and message only (see
 * `safeLogFields`). `destination` is for tests; stdout otherwise.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'lucca-sync' },
    serializers: { err: serializeError, error: serializeError },
    formatters: { log: safeLogFields },
    hooks: {
      // pino takes the message of an error logged without one from the error itself: the safe one instead.
      logMethod(this: Logger, args: Parameters<Logger['info']>, method: (...args: unknown[]) => void) {
        const [first, ...rest] = args as unknown[];
        const err = first instanceof Error ? first : (first as { err?: unknown } | null)?.err;
        if (rest.length === 0 && err instanceof Error) {
          method.apply(this, [first instanceof Error ? { err } : first, describeError(err).message]);
          return;
        }
        method.apply(this, args);
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** An error as a log line may show it; a cause, when there is one, the same way. */
export type LoggedError = ErrorSummary & { cause?: LoggedError };

/**
 * Name, code and message, the message made safe (`describeError`), and the cause the same way.
 * Never the stack (its first line repeats the raw message), nor the fields the MongoDB driver puts
 * on its errors: `writeErrors[].op`, `errInfo`, `keyValue`, `errorResponse` and `result` carry keys
 * and whole documents.
 */
export function serializeError(value: unknown, depth = 0): unknown {
  if (!isErrorLike(value)) return value;
  const logged: LoggedError = value instanceof Error ? describeError(value) : describeFailure(value);
  const cause = (value as { cause?: unknown }).cause;
  if (cause !== undefined && cause !== null && depth < 3) {
    const safe = serializeError(cause, depth + 1);
    if (isErrorLike(cause)) logged.cause = safe as LoggedError;
  }
  return logged;
}

/**
 * A line's fields with every error in them serialized by `serializeError`, however deep: the
 * Temporal SDK puts errors under `error` (a failed activity), `err` or `failure`, and a caller may
 * nest one anywhere.
 */
export function safeLogFields(fields: Record<string, unknown>): Record<string, unknown> {
  return safeValue(fields, 0) as Record<string, unknown>;
}

const MAX_DEPTH = 6;

function safeValue(value: unknown, depth: number): unknown {
  if (isErrorLike(value)) return serializeError(value);
  if (depth >= MAX_DEPTH || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => safeValue(v, depth + 1));
  // Plain objects only: a Date, an ObjectId or a Buffer is written as pino would.
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, safeValue(v, depth + 1)]));
}

/**
 * An Error, or a Temporal failure as the SDK encodes one (`{ message, stackTrace, cause,
 * applicationFailureInfo… }`): a plain object whose stack trace repeats its message.
 */
function isErrorLike(value: unknown): boolean {
  if (value instanceof Error) return true;
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { message?: unknown }).message === 'string' &&
    ('stackTrace' in value || 'stack' in value)
  );
}

/** A failure encoded as a plain object (see `isErrorLike`): its type as its code, its message made safe. */
function describeFailure(value: unknown): LoggedError {
  const f = value as { message: string; applicationFailureInfo?: { type?: unknown } | null };
  const type = f.applicationFailureInfo?.type;
  const safe = describeError(Object.assign(new Error(f.message), { name: 'Failure' }));
  return typeof type === 'string' ? { ...safe, code: type } : safe;
}

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

let installed = false;

export interface TemporalRuntimeOptions {
  /**
   * Where the Prometheus endpoint listens (`host:port`, scraped at `/metrics`): the SDK's metrics
   * (prefixed `temporal_`) and the sync's own (`lucca_sync_`, see `activities/metrics.ts`). None: no
   * metrics are exported.
   */
  metricsBindAddress?: string;
}

/**
 * Installs the Temporal runtime of the process, once and before any connection: routes the SDK's
 * own logs (workflow and activity loggers included) into pino, whose formatters make any error in
 * their fields safe — the SDK logs a failed activity with the error it threw (translated by
 * `toTemporalFailure` by then, but the logger does not rely on it) — and exports its metrics.
 */
export function installTemporalRuntime(logger: Logger, opts: TemporalRuntimeOptions = {}): void {
  if (installed) return;
  installed = true;
  const temporalLevel = (logger.level.toUpperCase() === 'FATAL' ? 'ERROR' : logger.level.toUpperCase()) as LogLevel;
  Runtime.install({
    logger: new DefaultLogger(temporalLevel in LEVELS ? temporalLevel : 'INFO', (entry) => {
      const meta: LogMetadata = entry.meta ?? {};
      logger[LEVELS[entry.level]](meta, entry.message);
    }),
    ...(opts.metricsBindAddress
      ? {
          telemetryOptions: {
            metrics: {
              prometheus: {
                bindAddress: opts.metricsBindAddress,
                // The default buckets are milliseconds up to 10 s: a run lasts seconds to hours.
                histogramBucketOverrides: { [SYNC_METRICS.runDuration]: RUN_DURATION_BUCKETS_SECONDS },
              },
            },
          },
        }
      : {}),
  });
}
