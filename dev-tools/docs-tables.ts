/**
 * Writes the docs' code tables from the sentences in domain/, so the docs say what the CLI and the
 * console say, in both languages: `npm run docs:tables`. Each table sits between two markers in
 * its document; the rest of the document is written by hand. A unit test fails when a committed
 * table differs from what this writes.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as prettier from 'prettier';
import { FAILURE_SENTENCES, failureType, type FailureCode } from '../domain/failures';
import { REASON_SENTENCES } from '../domain/reasons';
import { REASON_CODES } from '../domain/types';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Every generated table, by the name its markers carry. */
export function docTables(): Record<string, string> {
  const failureCodes = Object.keys(FAILURE_SENTENCES) as FailureCode[];
  return {
    'reason-codes': table(
      ['Code', 'Meaning', 'En français (console)'],
      REASON_CODES.map((code) => [`\`${code}\``, REASON_SENTENCES[code].en, REASON_SENTENCES[code].fr]),
    ),
    'failure-codes': table(
      ['Code', 'Temporal failure type', 'Meaning', 'En français (console)'],
      failureCodes.map((code) => [
        `\`${code}\``,
        `\`${failureType(code)}\``,
        FAILURE_SENTENCES[code].en,
        FAILURE_SENTENCES[code].fr,
      ]),
    ),
  };
}

/** The documents that hold generated tables (relative to the repository), and which tables each holds. */
export const GENERATED_DOCS: Readonly<Record<string, readonly string[]>> = {
  'docs/reasons.md': ['reason-codes', 'failure-codes'],
};

const MARKED = /<!-- generated: ([a-z-]+) \(npm run docs:tables\) -->[\s\S]*?<!-- end of generated: \1 -->/g;

/** `text` with each named table put between its markers; a missing marker or an unknown name is an error. */
export function fillTables(
  text: string,
  tables: Record<string, string>,
  names: readonly string[],
  file: string,
): string {
  const filled = new Set<string>();
  const out = text.replace(MARKED, (_whole, name: string) => {
    const body = tables[name];
    if (body === undefined || !names.includes(name)) throw new Error(`${file}: no table named "${name}" goes there`);
    filled.add(name);
    return `<!-- generated: ${name} (npm run docs:tables) -->\n\n${body}\n\n<!-- end of generated: ${name} -->`;
  });
  const missing = names.filter((name) => !filled.has(name));
  if (missing.length > 0) throw new Error(`${file}: no markers for the table(s) ${missing.join(', ')}`);
  return out;
}

/** A document as committed and as the generator writes it (formatted as `npm run lint` wants it). */
export async function generatedDoc(relative: string): Promise<{ file: string; committed: string; generated: string }> {
  const file = path.join(REPO_ROOT, relative);
  const committed = await readFile(file, 'utf8');
  const filled = fillTables(committed, docTables(), GENERATED_DOCS[relative] ?? [], relative);
  const options = (await prettier.resolveConfig(file)) ?? {};
  const generated = await prettier.format(filled, { ...options, filepath: file });
  return { file, committed, generated };
}

async function main(): Promise<void> {
  for (const relative of Object.keys(GENERATED_DOCS)) {
    const { file, committed, generated } = await generatedDoc(relative);
    if (generated === committed) {
      console.log(`${relative}: up to date`);
    } else {
      await writeFile(file, generated);
      console.log(`${relative}: tables written`);
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
