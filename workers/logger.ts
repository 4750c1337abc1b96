import { DefaultLogger, Runtime, type LogLevel, type LogMetadata } from '@temporalio/worker';
import { pino, type Logger } from 'pino';

/** The process logger: structured JSON lines. Callers log ids and counts, never keys or people. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'lucca-sync' } });
}

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

let installed = false;

/** Routes the Temporal SDK's own logs (workflow and activity loggers included) into pino. */
export function installTemporalLogging(logger: Logger): void {
  if (installed) return;
  installed = true;
  const temporalLevel = (logger.level.toUpperCase() === 'FATAL' ? 'ERROR' : logger.level.toUpperCase()) as LogLevel;
  Runtime.install({
    logger: new DefaultLogger(temporalLevel in LEVELS ? temporalLevel : 'INFO', (entry) => {
      const meta: LogMetadata = entry.meta ?? {};
      logger[LEVELS[entry.level]](meta, entry.message);
    }),
  });
}
