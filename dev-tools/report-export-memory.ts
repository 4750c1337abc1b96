import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { connectMongo, repositories } from '../db/mongo';
import { CLI_EXPORT_LABELS, exportReport, type ExportFormat } from '../operations/report-export';

/**
 * Exports one run's report into nothing and says how much memory it held: a child process (run
 * with `--expose-gc`) so that nothing else lives in its heap. Every `SAMPLE_EVERY_BYTES` written it collects
 * garbage and reads the heap: what is left is what the export holds. Used by the report-export test
 * (1,000 against 10,000 changes) and `npm run bench:export` (10,000 against 100,000).
 *
 *   node --expose-gc --import tsx dev-tools/report-export-memory.ts <companyId> <runId> <csv|json>
 *
 * Prints one JSON line: bytes, baseHeap (after connecting, before the export), peakHeap
 * (the largest sampled heap during it), maxRss (the process's peak resident set), ms.
 */
const SAMPLE_EVERY_BYTES = 64 * 1024;

const [companyId, runId, format] = process.argv.slice(2) as [string, string, ExportFormat];
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('Run with --expose-gc: the heap is measured after collecting garbage.');
const { MONGODB_URI, MONGODB_DB } = process.env;
if (!MONGODB_URI || !MONGODB_DB) throw new Error('MONGODB_URI and MONGODB_DB name the store.');

const { client, db } = await connectMongo(MONGODB_URI, MONGODB_DB);
try {
  const repos = repositories(db);
  gc();
  const baseHeap = process.memoryUsage().heapUsed;
  let peakHeap = baseHeap;
  let bytes = 0;
  let sampledAt = 0;
  const started = Date.now();
  const file = await exportReport({ repos }, { companyId, runId, format, labels: CLI_EXPORT_LABELS });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes - sampledAt >= SAMPLE_EVERY_BYTES) {
        sampledAt = bytes;
        gc();
        peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
      }
      done();
    },
  });
  await pipeline(file.body, sink);
  const ms = Date.now() - started;
  const maxRss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`${JSON.stringify({ bytes, baseHeap, peakHeap, maxRss, ms })}\n`);
} finally {
  await client.close();
}
