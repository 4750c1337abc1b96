// `npm run bench`: the pipeline through Temporal against a plain-script baseline, on the dev stack's
// Temporal server and FerretDB, with the fake Lucca and the worker each in its own process.
// Writes docs/benchmarks.md from what it measured. See the doc for how to read the numbers.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { MongoClient } from 'mongodb';
import { format, resolveConfig } from 'prettier';
import { writeWorkflowBundle } from '../child-worker/child-worker';
import { mongoUri, stackSettings, startStack, stopStack, temporalAddress } from '../stack/stack';
import { program, type Options } from './options';
import { machine, render, replaceSection } from './report';
import { Bench, log, type SizeResult } from './runner';

async function main(): Promise<void> {
  const opts = program.parse().opts<Options>();
  const began = performance.now();
  const settings = stackSettings();
  const started = await startStack(settings, ['temporal', 'ferretdb']);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lucca-sync-bench-'));
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? temporalAddress(settings) });
  const uri = mongoUri(settings);
  const mongo = await new MongoClient(uri, { monitorCommands: true }).connect();
  try {
    log('bundling the workflows once');
    const bundlePath = await writeWorkflowBundle(path.join(dir, 'workflows.js'));
    const address = process.env.TEMPORAL_ADDRESS ?? temporalAddress(settings);
    const bench = new Bench(new Client({ connection }), mongo, uri, address, bundlePath);
    const sizes: SizeResult[] = [];
    for (const [i, size] of opts.sizes.entries()) {
      const reps = opts.reps[i] ?? opts.reps.at(-1) ?? 1;
      sizes.push(
        await bench.measureSize(size, reps, opts.seed, {
          change: opts.changeSizes.includes(size),
          attach: opts.attachSizes.includes(size),
        }),
      );
    }
    const limited =
      opts.rateLimitedSize > 0
        ? await bench.measureRateLimited(opts.rateLimitedSize, opts.seed, opts.rateLimitedChange)
        : null;
    const shared = opts.sharedTenantSize > 0 ? await bench.measureSharedTenant(opts.sharedTenantSize, opts.seed) : null;
    const generated = render({
      engine: settings.engine,
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
      date: new Date().toISOString(),
      machine: await machine(),
      sizes,
      limited,
      shared,
      totalMs: performance.now() - began,
    });
    // The doc's hand-written analysis stays; this engine's generated section is replaced, the other kept.
    const existing = await readFile(opts.out, 'utf8').catch(() => '');
    // Formatted like the rest of the repository, so that `npm run lint` stays clean after a bench.
    const prettierOptions = { ...(await resolveConfig(opts.out)), filepath: opts.out };
    await writeFile(opts.out, await format(replaceSection(existing, settings.engine, generated), prettierOptions));
    await writeFile(
      path.join(dir, '..', `lucca-sync-bench-${Date.now()}.json`),
      JSON.stringify({ sizes, limited, shared }, null, 2),
    );
    log(`wrote ${opts.out}`);
    process.stdout.write(generated);
  } finally {
    await mongo.close();
    await connection.close();
    await rm(dir, { recursive: true, force: true });
    if (started.length) await stopStack(started);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
