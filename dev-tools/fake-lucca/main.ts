// Standalone fake Lucca for the demo, benchmarks and manual runs; drive it further over /__fake/*.
import { Command, InvalidArgumentError, Option } from 'commander';
import { generateLuccaUsers, startFakeLucca } from './index';
import { localDate } from './dates';

function integer(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}

function calendarDate(value: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) throw new InvalidArgumentError('expected YYYY-MM-DD');
  return value;
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
}

interface Options {
  port: number;
  host: string;
  tenant: string;
  size: number;
  seed: number;
  apiKey?: string;
  apiKeyEnv: string;
  today?: string;
  rateLimit: boolean;
  hosts: string[];
  logRequests: boolean;
  ignoreOrganisationFilters: boolean;
}

const program = new Command()
  .name('fake-lucca')
  .description('Serve a generated company on a fake Lucca v3 users API.')
  .option('--port <port>', 'port to listen on (0: any free port)', integer(0), 4010)
  .option('--host <host>', 'interface to listen on', '127.0.0.1')
  .option('--tenant <name>', 'tenant name, served under /t/<name>', 'acme')
  .option('--size <n>', 'number of users to generate', integer(0), 3000)
  .option('--seed <n>', 'dataset seed', integer(Number.MIN_SAFE_INTEGER), 42)
  .addOption(new Option('--api-key <key>', 'API key the tenant accepts (prefer --api-key-env: argv is visible)'))
  .option('--api-key-env <var>', 'environment variable holding the API key', 'LUCCA_API_KEY')
  .option('--today <date>', "the tenant's today, YYYY-MM-DD (default: the real date, moving)", calendarDate)
  .option('--no-rate-limit', "disable Lucca's 50 requests per minute")
  .option('--hosts <list>', 'Host header values routed to the tenant, comma-separated', list, [])
  .option('--log-requests', 'log each request (never its headers)', false)
  .option(
    '--ignore-organisation-filters',
    'answer everyone to legalEntityId= and departmentId=, as a tenant without these filters',
    false,
  );

async function main(): Promise<void> {
  const opts = program.parse().opts<Options>();
  const apiKey = opts.apiKey ?? process.env[opts.apiKeyEnv];
  if (!apiKey) return program.error(`no API key: pass --api-key or set ${opts.apiKeyEnv}`);

  const fake = await startFakeLucca({ port: opts.port, host: opts.host, logRequests: opts.logRequests });
  fake.addTenant(opts.tenant, {
    users: generateLuccaUsers({ size: opts.size, seed: opts.seed, today: opts.today ?? localDate() }),
    apiKeys: [{ key: apiKey, principal: `fake-lucca ${opts.tenant} key` }],
    today: opts.today,
    rateLimit: opts.rateLimit ? undefined : false,
    hosts: opts.hosts,
    organisationFilters: opts.ignoreOrganisationFilters ? 'ignore' : 'apply',
  });
  const hosts = opts.hosts.length > 0 ? `, also by Host ${opts.hosts.join(', ')}` : '';
  // The URL ends the line so that a wrapper script can take the last word.
  console.log(`fake Lucca tenant ${opts.tenant} (${opts.size} users${hosts}) at ${fake.tenantUrl(opts.tenant)}`);

  const shutdown = (): void => {
    fake.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
