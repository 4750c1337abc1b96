import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/env';
import { runWorker } from './main';

// The worker's entry point (`npm run worker`): settings from `--settings <file>`, or `.env` when
// present, as the CLI reads them; then the worker until SIGINT / SIGTERM (graceful shutdown).

function describeError(err: unknown): string {
  if (err instanceof ConfigError) return err.message;
  if (err instanceof Error) return process.env.LOG_LEVEL === 'debug' ? (err.stack ?? err.message) : err.message;
  return String(err);
}

try {
  const { values } = parseArgs({ options: { settings: { type: 'string' } } });
  if (values.settings) process.loadEnvFile(values.settings);
  else if (existsSync('.env')) process.loadEnvFile('.env');
  await runWorker();
  process.exit(0);
} catch (err) {
  console.error(`error: ${describeError(err).replace(/\s*\n\s*/g, ' ')}`);
  process.exit(1);
}
