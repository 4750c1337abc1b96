import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { i18n, type Lang } from '../../console/i18n';
import { runPage, type RunView } from '../../console/views/run';
import { FAILURE_SENTENCES, type FailureCode } from '../../domain/failures';
import { REASON_SENTENCES } from '../../domain/reasons';
import { REASON_CODES } from '../../domain/types';
import { docTables, fillTables, GENERATED_DOCS, generatedDoc } from '../../dev-tools/docs-tables';

describe('the code tables of the docs, generated from domain/', () => {
  for (const relative of Object.keys(GENERATED_DOCS)) {
    test(`${relative} holds the tables npm run docs:tables writes from the code`, async () => {
      const { committed, generated } = await generatedDoc(relative);
      assert.ok(
        committed === generated,
        `${relative} differs from what domain/ says: run \`npm run docs:tables\` and commit the result`,
      );
    });
  }

  test('a table lists every reason and failure code, with its English and French sentences', () => {
    const tables = docTables();
    for (const code of REASON_CODES) {
      const row = tables['reason-codes']?.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      assert.ok(row, code);
      assert.ok(row.includes(REASON_SENTENCES[code].en) && row.includes(REASON_SENTENCES[code].fr), code);
    }
    for (const code of Object.keys(FAILURE_SENTENCES) as FailureCode[]) {
      const row = tables['failure-codes']?.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      assert.ok(row, code);
      assert.ok(row.includes(FAILURE_SENTENCES[code].en) && row.includes(FAILURE_SENTENCES[code].fr), code);
    }
  });

  test('a document that lost the markers of one of its tables is refused, naming the table', () => {
    const text =
      '<!-- generated: reason-codes (npm run docs:tables) -->\nold\n<!-- end of generated: reason-codes -->\n';
    assert.match(
      fillTables(text, docTables(), ['reason-codes'], 'x.md'),
      /\| `missing-email` \|/,
      'the table replaces what stood between the markers',
    );
    assert.throws(
      () => fillTables(text, docTables(), ['reason-codes', 'failure-codes'], 'x.md'),
      /x\.md: no markers for the table\(s\) failure-codes/,
    );
  });

  test('the console shows the same French sentences as the docs', () => {
    const fr = i18n('fr');
    for (const code of REASON_CODES)
      assert.equal(fr.reason(code, 'a narrower English message'), REASON_SENTENCES[code].fr);
    for (const code of Object.keys(FAILURE_SENTENCES) as FailureCode[]) {
      assert.equal(fr.failure(code), FAILURE_SENTENCES[code].fr);
      assert.equal(i18n('en').failure(code), FAILURE_SENTENCES[code].en);
    }
    assert.equal(fr.failure('a-code-of-an-older-run'), null);
  });

  test("a failed run's page says what its code means in the page's language, then the run's own message", () => {
    const message = 'Lucca refused the API key (HTTP 401): get a new key and onboard again.';
    const view = {
      company: { _id: 'acme', name: 'Acme', timezone: 'Europe/Paris' },
      report: {
        run: {
          _id: '20261202-101500-1a2b3c4d',
          companyId: 'acme',
          status: 'failed',
          mode: 'apply',
          trigger: 'manual',
          requestedBy: 'ops',
          startedAt: new Date('2026-12-02T10:15:00Z'),
          finishedAt: new Date('2026-12-02T10:15:03Z'),
          counts: null,
          error: { code: 'lucca-auth', message },
        },
        filter: {},
        total: 0,
        skip: 0,
        limit: 50,
        changes: [],
        countsByAction: new Map(),
        countsByReason: new Map(),
        changesSoFar: 0,
      },
      temporalUrl: 'http://127.0.0.1:8233/',
    } as unknown as RunView;
    for (const lang of ['fr', 'en'] as Lang[]) {
      const page = String(
        runPage({ i18n: i18n(lang), csrf: 'x', user: 'ops', role: 'viewer', canAct: false, currentUrl: '/' }, view),
      );
      const alert = /<p class="flash error" role="alert">([\s\S]*?)<\/p>/.exec(page)?.[1] ?? '';
      assert.ok(alert.includes('(lucca-auth)'), alert);
      assert.ok(alert.includes(FAILURE_SENTENCES['lucca-auth'][lang]), `${lang}: ${alert}`);
      assert.ok(alert.includes('Lucca refused the API key (HTTP 401)'), alert);
    }
  });

  test('every sentence is one plain sentence in each language, quoting no one', () => {
    const all = [...Object.values(REASON_SENTENCES), ...Object.values(FAILURE_SENTENCES)];
    for (const sentences of all) {
      for (const sentence of [sentences.en, sentences.fr]) {
        assert.match(sentence, /^[A-ZÀ-ÖØ-Þ].*\.$/, sentence);
        assert.doesNotMatch(sentence, /@/, sentence);
      }
    }
  });
});
