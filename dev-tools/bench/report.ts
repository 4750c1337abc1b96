// The benchmark's Markdown: its section of docs/benchmarks.md, one per store engine.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import type { StoreEngine } from '../stack/stack';
import type { CommandCounts } from './command-counter';
import type { PipelineRun, RateLimitedResult, RateLimitedRun, SharedTenantResult, SizeResult } from './runner';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export const sec = (ms: number) => (ms / 1000).toFixed(1);
export const mb = (kb: number | null) => (kb === null ? 'n/a' : `${Math.round(kb / 1024)} MB`);

export function phaseLine(run: PipelineRun): string {
  return Object.entries(run.phases)
    .map(([name, s]) => `${name} ${s.toFixed(1)} s`)
    .join(', ');
}

export async function machine(): Promise<string> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  return `${os.availableParallelism()} CPUs (nproc), ${model}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

const perEmployee = (ops: CommandCounts | null | undefined, employees: number) =>
  ops ? [ops.commands, ops.written, ops.returned].map((n) => (n / employees).toFixed(3)).join(' / ') : 'n/a';

export function render(opts: {
  engine: StoreEngine;
  command: string;
  date: string;
  machine: string;
  sizes: SizeResult[];
  limited: RateLimitedResult | null;
  shared: SharedTenantResult | null;
  totalMs: number;
}): string {
  const rows = opts.sizes.map((s) => {
    const base = median(s.baselineMs);
    const pipe = median(s.pipelineMs);
    return [
      s.size.toLocaleString('en'),
      `${sec(base)} s (${s.baselineMs.map(sec).join(' / ')})`,
      `${sec(pipe)} s (${s.pipelineMs.map(sec).join(' / ')})`,
      `${Math.round(s.size / (pipe / 1000)).toLocaleString('en')}/s`,
      `${(pipe / base).toFixed(2)}x`,
      String(s.pipelineProfiles),
      `${mb(s.idleRssKb)} → ${mb(median(s.peakRssAfterFirstKb))}`,
      String(s.first[0]?.historyEvents ?? 'n/a'),
    ];
  });
  const reruns = opts.sizes.map((s) => [
    s.size.toLocaleString('en'),
    s.unchanged ? `${sec(s.unchanged.wallMs)} s` : 'n/a',
    s.unchanged ? String(s.unchanged.result.profileWrites) : 'n/a',
    s.unchanged ? String(s.unchanged.historyEvents) : 'n/a',
    s.changed ? `${sec(s.changed.wallMs)} s` : 'not measured',
    s.changed ? `${s.changed.result.profileWrites} (${s.changedUsers} users changed)` : '—',
    s.changed ? String(s.changed.historyEvents) : '—',
    mb(s.peakRssEndKb),
  ]);
  const attaches = opts.sizes.map((s) => [
    s.size.toLocaleString('en'),
    s.attach ? `${sec(s.attach.wallMs)} s` : 'n/a',
    s.attach ? String(s.attach.result.counts?.linked ?? 'n/a') : 'n/a',
    s.attach ? String(s.attach.result.profileWrites) : 'n/a',
    mb(s.attachPeakRssKb),
    s.attachMissing
      ? `${s.attachMissing.longestMs.toFixed(0)} ms (each looked for every ${s.attachMissing.pollMs.toFixed(0)} ms)`
      : 'n/a',
  ]);
  const ops = opts.sizes.flatMap((s) => [
    [s.size.toLocaleString('en'), 'baseline, first sync', perEmployee(s.baselineOps, s.size)],
    [s.size.toLocaleString('en'), 'pipeline, first sync', perEmployee(s.first[0]?.ops, s.size)],
    [s.size.toLocaleString('en'), 'pipeline, unchanged re-run', perEmployee(s.unchanged?.ops, s.size)],
    [s.size.toLocaleString('en'), 'pipeline, 1%-changed re-run', perEmployee(s.changed?.ops, s.size)],
    [s.size.toLocaleString('en'), 'pipeline, first sync attaching', perEmployee(s.attach?.ops, s.size)],
  ]);
  const phases = opts.sizes.flatMap((s) =>
    [
      ['first sync', s.first[0]],
      ['unchanged re-run', s.unchanged],
      ['1%-changed re-run', s.changed],
      ['first sync attaching', s.attach],
    ]
      .filter((p): p is [string, PipelineRun] => p[1] !== null && p[1] !== undefined)
      .map(([label, run]) => `- ${s.size.toLocaleString('en')}, ${label} (${sec(run.wallMs)} s): ${phaseLine(run)}`),
  );
  const table = (head: string[], body: string[][]) =>
    [
      `| ${head.join(' | ')} |`,
      `| ${head.map(() => '---').join(' | ')} |`,
      ...body.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
  const l = opts.limited;
  return [
    generatedMarker(opts.engine),
    `## Raw results on FerretDB's ${opts.engine} engine (generated)`,
    '',
    `- Date: ${opts.date}`,
    `- Machine: ${opts.machine}`,
    `- Command: \`${opts.command}\``,
    `- Total bench time: ${sec(opts.totalMs)} s`,
    '',
    '### First sync, empty database (fake rate limit off)',
    '',
    'Median of the repetitions, each value in brackets; baseline and pipeline alternate within a repetition.',
    '',
    table(
      [
        'employees',
        'baseline',
        'pipeline',
        'employees/s',
        'pipeline/baseline',
        'profile writes',
        'worker RSS idle → peak',
        'history events',
      ],
      rows,
    ),
    '',
    '### Re-runs (same worker, same database)',
    '',
    table(
      ['employees', 'unchanged re-run', 'writes', 'events', '1%-changed re-run', 'writes', 'events', 'peak worker RSS'],
      reruns,
    ),
    '',
    '### First sync attaching existing profiles (the company imported unlinked, a fresh worker)',
    '',
    table(
      ['employees', 'wall', 'linked', 'profile writes', 'peak worker RSS', 'longest a sampled profile was missing'],
      attaches,
    ),
    '',
    '### MongoDB commands per employee (driver command monitoring: commands / documents written / documents returned)',
    '',
    'Counts of what the worker (or the baseline script) asked of the store: they do not depend on the machine, and carry over to MongoDB.',
    '',
    table(['employees', 'run', 'commands / written / returned per employee'], ops),
    '',
    '### Where the time goes (activity time from the run history, scheduled → completed)',
    '',
    ...phases,
    '',
    '### Under the rate limit (50 requests per rolling minute, fake and client)',
    '',
    l
      ? table(
          [
            'employees',
            'run',
            'wall',
            'read and plan',
            'requests',
            '429s',
            'floor',
            'wall / floor',
            'read / floor',
            'profile writes',
          ],
          (
            [
              ['first sync', l.first],
              ['1%-changed re-run', l.changed],
            ] satisfies [string, RateLimitedRun | null][]
          )
            .flatMap(([label, r]) => (r ? [[label, r] as const] : []))
            .map(([label, r]) => [
              l.size.toLocaleString('en'),
              label,
              `${sec(r.wallMs)} s`,
              `${sec(r.readMs)} s`,
              String(r.requests),
              String(r.tooMany),
              `${sec(r.floorMs)} s`,
              `${(r.wallMs / r.floorMs).toFixed(2)}x`,
              `${(r.readMs / r.floorMs).toFixed(2)}x`,
              String(r.profileWrites),
            ]),
        )
      : 'not measured in this run',
    '',
    '### One tenant, two companies at once on two workers, and a CLI key check (50 requests per rolling minute, one budget)',
    '',
    opts.shared ? sharedTable(opts.shared) : 'not measured in this run',
    '',
  ].join('\n');
}

function sharedTable(r: SharedTenantResult): string {
  const head = [
    'employees',
    'wall (both)',
    'runs: wall / read and plan',
    'CLI onboard',
    'requests',
    '429s',
    'floor',
    'wall / floor',
    'read / floor',
  ];
  const lastRead = Math.max(...r.runs.map((run) => run.readMs));
  const row = [
    `${r.size.toLocaleString('en')} each`,
    `${sec(r.wallMs)} s`,
    r.runs.map((run) => `${sec(run.wallMs)} s / ${sec(run.readMs)} s`).join('; '),
    `started at ${sec(r.cli.startedAfterMs)} s, took ${sec(r.cli.tookMs)} s, exit ${r.cli.exitCode}`,
    String(r.requests),
    String(r.tooMany),
    `${sec(r.floorMs)} s`,
    // Under 51 requests there is no floor: everything fits in the first window.
    r.floorMs > 0 ? `${(r.wallMs / r.floorMs).toFixed(2)}x` : 'n/a',
    r.floorMs > 0 ? `${(lastRead / r.floorMs).toFixed(2)}x` : 'n/a',
  ];
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, `| ${row.join(' | ')} |`].join('\n');
}

const generatedMarker = (engine: StoreEngine) => `<!-- generated by dev-tools/bench/bench.ts: ${engine} -->`;
const END_MARKER = '<!-- end of generated section -->';

/** The document with the engine's generated section replaced (or appended), everything else kept. */
export function replaceSection(doc: string, engine: StoreEngine, generated: string): string {
  const section = `${generated}\n${END_MARKER}\n`;
  const start = doc.indexOf(generatedMarker(engine));
  if (start === -1) return `${doc.trimEnd()}\n\n${section}`;
  const end = doc.indexOf(END_MARKER, start);
  const after = end === -1 ? '' : doc.slice(end + END_MARKER.length);
  return `${doc.slice(0, start)}${section}${after.replace(/^\n+/, '\n')}`;
}
