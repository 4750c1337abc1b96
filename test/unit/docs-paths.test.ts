import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT } from '../../dev-tools/docs-tables';

/**
 * The docs name the code's modules, and the code moves: every file or folder of the repository a
 * document names must exist, and every link between the documents must land on a file and a
 * heading that exist. A name the code lost fails here, naming the document and the name.
 */

const DOCS = [
  'README.md',
  ...readdirSync(path.join(REPO_ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The repository's top-level folders of code and docs (generated and tool folders are not the repository's). */
const TOP = new Set(
  readdirSync(REPO_ROOT, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules')
    .map((e) => e.name),
);

const exists = (relative: string) =>
  [relative, `${relative}.ts`].some((candidate) => existsSync(path.join(REPO_ROOT, candidate)));

/** The repository paths a piece of text names: `folder/…` starting at a top-level folder, up to any placeholder. */
function repoPaths(text: string): string[] {
  const found: string[] = [];
  // Not a route's tail (`POST …/lucca/test`): a path starts the token.
  for (const [token] of text.matchAll(/(?<![\w/.…-])[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.*<>{}-]*)+/g)) {
    const top = token.split('/')[0] ?? '';
    if (!TOP.has(top)) continue;
    // `test/replay/histories/*.binpb`, `syncStaging.<runId>`: what stands before the placeholder must exist.
    const cut = token.search(/[*<{]/);
    const fixed = (cut === -1 ? token : token.slice(0, token.lastIndexOf('/', cut))).replace(/\/+$/, '');
    found.push(fixed);
  }
  return found;
}

/**
 * What a document names: paths in backquotes and in code blocks, and, in the layout block of a
 * document (lines that start with `folder/`), each `file.ts` and `sub/` named on that folder's lines.
 */
function namedPaths(markdown: string): string[] {
  const names: string[] = [];
  for (const [, code] of markdown.matchAll(/`([^`\n]+)`/g)) names.push(...repoPaths(code ?? ''));
  for (const [, block] of markdown.matchAll(/```[a-z]*\n([\s\S]*?)```/g)) {
    let folder: string | null = null;
    for (const line of (block ?? '').split('\n')) {
      const head = /^([a-z-]+)\/\s/.exec(line);
      if (head && TOP.has(head[1] ?? '')) folder = head[1] ?? null;
      else if (!line.startsWith(' ')) folder = null;
      names.push(...repoPaths(line));
      if (!folder) continue;
      const body = head ? line.slice(head[0].length) : line;
      for (const [name] of body.matchAll(/\b[a-z][a-z0-9-]*\.ts\b/g)) names.push(`${folder}/${name}`);
      for (const [, sub] of body.matchAll(/(?:^|[\s(,])([a-z][a-z-]*)\/(?=[\s,)]|$)/g))
        names.push(TOP.has(sub ?? '') ? (sub ?? '') : `${folder}/${sub}`);
    }
  }
  return [...new Set(names)];
}

/** GitHub's anchor of a heading. */
const anchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

const headingsOf = (markdown: string) =>
  new Set([...markdown.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6} (.+)$/gm)].map(([, h]) => anchor(h ?? '')));

describe('the docs name what the repository holds', () => {
  for (const doc of DOCS) {
    test(`every module and folder ${doc} names exists`, () => {
      const missing = namedPaths(readFileSync(path.join(REPO_ROOT, doc), 'utf8')).filter((p) => !exists(p));
      assert.deepEqual(missing, [], `${doc} names what the repository does not hold`);
    });

    test(`every link of ${doc} to another document lands on a file and a heading`, () => {
      const text = readFileSync(path.join(REPO_ROOT, doc), 'utf8');
      const broken: string[] = [];
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (!target || /^[a-z]+:/.test(target)) continue;
        const [file = '', hash] = target.split('#');
        const resolved = file ? path.join(path.dirname(doc), file) : doc;
        if (!existsSync(path.join(REPO_ROOT, resolved))) broken.push(target);
        else if (
          hash &&
          resolved.endsWith('.md') &&
          !headingsOf(readFileSync(path.join(REPO_ROOT, resolved), 'utf8')).has(hash)
        )
          broken.push(target);
      }
      assert.deepEqual(broken, [], `${doc} links to what is not there`);
    });
  }

  test('a name the code lost is found: the layout block and backquotes are both read', () => {
    const doc =
      '```\ndomain/      pure rules: matching.ts, plan.ts, guard/\n```\nThe guard (`domain/guard.ts`) and `scripts/lib/`.';
    assert.deepEqual(
      namedPaths(doc).filter((p) => !exists(p)),
      ['domain/guard.ts', 'domain/matching.ts', 'domain/guard'],
    );
  });
});
