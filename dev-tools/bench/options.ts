import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { PROJECT_ROOT } from '../stack/paths';

const list = (value: string): number[] =>
  value.split(',').map((v) => {
    const n = Number(v.trim());
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected integers, got "${v}"`);
    return n;
  });

export interface Options {
  sizes: number[];
  reps: number[];
  changeSizes: number[];
  attachSizes: number[];
  rateLimitedSize: number;
  rateLimitedChange: boolean;
  sharedTenantSize: number;
  seed: number;
  out: string;
}

export const program = new Command()
  .name('bench')
  .description('Benchmark the sync pipeline against a plain baseline; writes docs/benchmarks.md.')
  .option('--sizes <list>', 'company sizes', list, [1_000, 10_000, 100_000])
  .option('--reps <list>', 'repetitions: one number, or one per size', list, [3])
  .option('--change-sizes <list>', 'sizes at which to measure the 1%-changed re-run', list, [1_000, 10_000])
  .option(
    '--attach-sizes <list>',
    'sizes at which to measure a first sync attaching the company imported (minutes at 100,000 on FerretDB)',
    list,
    [1_000, 10_000],
  )
  .option(
    '--rate-limited-size <n>',
    'size of the run under the 50 req/min limit (0: skip)',
    (v) => list(v)[0]!,
    100_000,
  )
  .option('--no-rate-limited-change', 'skip the 1%-changed re-run under the rate limit')
  .option(
    '--shared-tenant-size <n>',
    'size of the tenant two companies sync at once on two workers under its 50 req/min, with a CLI key check (0: skip)',
    (v) => list(v)[0]!,
    0,
  )
  .option('--seed <n>', 'dataset seed', (v) => list(v)[0]!, 42)
  .option('--out <file>', 'where to write the report', path.join(PROJECT_ROOT, 'docs', 'benchmarks.md'));
