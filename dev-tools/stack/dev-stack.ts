import { Command } from 'commander';
import { FERRETDB, TEMPORAL_CLI, TEMPORAL_TEST_SERVER, ensureTool } from './tools';
import {
  FAKE_LUCCA_TENANT,
  fakeLuccaUrl,
  mongoUri,
  stackSettings,
  stackStatus,
  startStack,
  stopStack,
  temporalAddress,
} from './stack';

const program = new Command('dev-stack').description(
  'Build, start and stop the local stack: Temporal dev server (+ Web UI), FerretDB and a fake Lucca tenant.',
);

program
  .command('build')
  .description(
    "Build the Temporal CLI and FerretDB from their Go modules, and fetch Temporal's time-skipping test server from Maven Central, into .tools/ (skipped when already there)",
  )
  .action(async () => {
    console.log(await ensureTool(TEMPORAL_CLI));
    console.log(await ensureTool(FERRETDB));
    console.log(await ensureTool(TEMPORAL_TEST_SERVER));
  });

program
  .command('start')
  .description('Start whatever is not already running (idempotent) and wait until each answers')
  .action(async () => {
    const s = stackSettings();
    const started = await startStack(s);
    console.log(started.length ? `Started: ${started.join(', ')}` : 'Everything was already running.');
    console.log(`Temporal:   ${temporalAddress(s)}  (Web UI http://localhost:${s.temporalUiPort})`);
    console.log(`MongoDB:    ${s.externalMongoUri ? '(MONGODB_URI)' : mongoUri(s)}`);
    console.log(`Fake Lucca: ${fakeLuccaUrl(s)}/t/${FAKE_LUCCA_TENANT}  (API key in .data/fake-lucca.key)`);
  });

program
  .command('stop')
  .description('Stop what `start` started')
  .action(async () => {
    const stopped = await stopStack();
    console.log(stopped.length ? `Stopped: ${stopped.join(', ')}` : 'Nothing was running.');
  });

program
  .command('status')
  .description('Say what is running and healthy')
  .action(async () => {
    for (const [name, state] of Object.entries(await stackStatus())) console.log(`${name.padEnd(11)} ${state}`);
  });

program.parseAsync().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
