import fc from 'fast-check';
import type { LuccaRawUser } from '../fake-lucca';

/**
 * Hostile Lucca records: wrong types, missing fields, huge and odd strings, invalid and absurd
 * dates, control characters, emails with spaces, upper case and unicode. Ids stay unique integers
 * (the API's own contract; the fake sorts and pages by them) — everything else is fair game.
 */
const controlChars = fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)) });
const oddText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  controlChars,
  fc.constantFrom(
    '  Zoë  ',
    'Ａｌｉｃｅ',
    'e\u0301lise',
    '\u202Egnp.exe',
    'O\u2019Brien',
    'ﷺ',
    '𝔘𝔫𝔦',
    '\u200B',
    '\t\n',
  ),
  fc.string({ minLength: 2_000, maxLength: 20_000 }).map((s) => s || 'x'),
);
const wrongType = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }),
);
const name = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('Camille', 'Jean-Pierre', 'Zoé', 'Ødegaard', 'Nguyễn', '李') },
  { weight: 3, arbitrary: oddText },
  { weight: 2, arbitrary: wrongType },
);
const local = fc.stringMatching(/^[a-z][a-z0-9.]{0,12}$/);
const email = fc.oneof(
  { weight: 3, arbitrary: local.map((l) => `${l}@acme.example`) },
  { weight: 2, arbitrary: local.map((l) => `  ${l.toUpperCase()}@ACME.Example `) },
  { weight: 1, arbitrary: local.map((l) => `${l} x@acme.example`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('jösé@exämple.fr', 'zoë.ü@acme.example', '用户@例子.广告', 'a@b', '@acme.example'),
  },
  { weight: 1, arbitrary: fc.emailAddress() },
  { weight: 2, arbitrary: oddText },
  { weight: 2, arbitrary: wrongType },
);
const luccaDate = (y: number, m: number, d: number) =>
  `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}T00:00:00`;
const date = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .date({ min: new Date('1950-01-01'), max: new Date('2035-12-31'), noInvalidDate: true })
      .map((d) => `${d.toISOString().slice(0, 10)}T00:00:00`),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 99_999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }))
      .map(([y, m, d]) => luccaDate(y, m, d)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '2023-02-29T00:00:00',
      '0001-01-01T00:00:00',
      '9999-12-31T23:59:59',
      '2020-01-01',
      '01/02/2020',
      'yesterday',
      '',
      '2020-01-01T00:00:00+14:00',
      '2020-13-01T00:00:00',
    ),
  },
  { weight: 1, arbitrary: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()) },
  { weight: 2, arbitrary: oddText },
  { weight: 2, arbitrary: wrongType },
);

/** One record without its id: any field may be missing (`requiredKeys: []`). */
const recordBody = fc.record(
  {
    firstName: name,
    lastName: name,
    mail: email,
    birthDate: date,
    dtContractStart: date,
    dtContractEnd: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 2, arbitrary: date }),
    modifiedAt: fc.oneof(fc.constant('2026-01-10T09:00:00.000'), oddText, wrongType),
  },
  { requiredKeys: [] },
);

/** A company of hostile records, ids 1..n (the fake pages by id). */
export const hostileCompany = (min: number, max: number): fc.Arbitrary<LuccaRawUser[]> =>
  fc
    .array(recordBody, { minLength: min, maxLength: max })
    .map((bodies) => bodies.map((body, i) => ({ ...body, id: i + 1 }) as unknown as LuccaRawUser));
