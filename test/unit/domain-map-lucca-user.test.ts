import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  isValidDateOnly,
  isValidEmail,
  LUCCA_FIELD_MAX_LENGTHS,
  luccaDateToDateOnly,
  mapLuccaUser,
  normaliseEmail,
  normaliseName,
} from '../../domain/map-lucca-user';
import type { MappedLuccaUser } from '../../domain/types';

const luccaUser = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 416,
  firstName: 'John',
  lastName: 'DOE',
  mail: 'john.doe@acme.fr',
  birthDate: '1989-12-22T00:00:00',
  dtContractStart: '2014-09-01T00:00:00',
  dtContractEnd: null,
  modifiedAt: '2015-09-07T10:20:06.583',
  ...overrides,
});

function expectOk(mapped: MappedLuccaUser): Extract<MappedLuccaUser, { kind: 'ok' }> {
  assert.equal(mapped.kind, 'ok', `expected ok, got ${JSON.stringify(mapped)}`);
  return mapped;
}

describe('luccaDateToDateOnly', () => {
  const accepted: [string, unknown, string | null][] = [
    ['keeps the date part of a Lucca date-time', '1989-12-22T00:00:00', '1989-12-22'],
    ['accepts midnight with zero milliseconds', '1989-12-22T00:00:00.000', '1989-12-22'],
    ['accepts midnight with .NET’s seven zero digits', '1989-12-22T00:00:00.0000000', '1989-12-22'],
    ['accepts midnight without seconds', '1989-12-22T00:00', '1989-12-22'],
    ['accepts a plain date', '1989-12-22', '1989-12-22'],
    ['accepts 29 February of a leap year', '2024-02-29T00:00:00', '2024-02-29'],
    ['accepts 29 February of a year divisible by 400', '2000-02-29', '2000-02-29'],
    ['accepts the first year of the window', '1900-01-01', '1900-01-01'],
    ['accepts the last year of the window', '2200-12-31', '2200-12-31'],
    ['trims surrounding spaces', ' 2020-05-04 ', '2020-05-04'],
    ['treats null as empty', null, null],
    ['treats undefined as empty', undefined, null],
    ['treats an empty string as empty', '', null],
    ['treats a blank string as empty', '   ', null],
  ];
  for (const [title, input, expected] of accepted) {
    test(title, () => assert.deepEqual(luccaDateToDateOnly(input), { ok: true, value: expected }));
  }

  const rejected: [string, unknown][] = [
    ['rejects 30 February', '2023-02-30T00:00:00'],
    ['rejects 29 February of a common year', '2023-02-29'],
    ['rejects 29 February of a century that is not a leap year', '1900-02-29'],
    ['rejects 31 April', '2023-04-31'],
    ['rejects month 13', '2023-13-01'],
    ['rejects day 0', '2023-01-00'],
    ['rejects year 0000', '0000-01-01'],
    ['rejects year 0001 (a common Lucca placeholder)', '0001-01-01T00:00:00'],
    ['rejects a year before 1900', '1899-12-31'],
    ['rejects a year after 2200', '2201-01-01'],
    ['rejects a five-digit year', '99999-01-01'],
    ['rejects a word', 'yesterday'],
    ['rejects the number 0', 0],
    ['rejects an epoch timestamp', 630_000_000_000],
    ['rejects a boolean', true],
    ['rejects an object', { date: '2020-01-01' }],
    ['rejects a JS Date instance', new Date('2020-01-01')],
    ['rejects a French-format date', '22/12/1989'],
    ['rejects a date without zero padding', '1989-1-2'],
    ['rejects trailing garbage', '1989-12-22T00:00:00junk'],
    // A date with an offset, or any time but midnight, was converted somewhere: its date part may be a
    // day off (22:00Z on 30 April is 1 May in Paris), so it is refused rather than cut.
    ['rejects a UTC date-time that is another day in Paris', '1980-04-30T22:00:00Z'],
    ['rejects midnight UTC (Z)', '1980-05-01T00:00:00Z'],
    ['rejects midnight UTC with milliseconds', '1980-05-01T00:00:00.000Z'],
    ['rejects a +02:00 offset', '1980-05-01T00:00:00+02:00'],
    ['rejects a -05:00 offset', '1980-05-01T00:00:00-05:00'],
    ['rejects an offset without a colon', '1980-05-01T00:00:00+0200'],
    ['rejects a +00:00 offset', '1980-05-01T00:00:00+00:00'],
    ['rejects noon', '1989-12-22T12:00:00'],
    ['rejects a late time', '2024-03-31T23:59:59'],
    ['rejects fractional seconds past midnight', '2015-09-07T10:20:06.583'],
    ['rejects a millisecond past midnight', '1989-12-22T00:00:00.001'],
    ['rejects a second past midnight', '1989-12-22T00:00:01'],
    ['rejects 24:00', '1989-12-21T24:00:00'],
    ['rejects a space instead of T', '1989-12-22 00:00:00'],
  ];
  for (const [title, input] of rejected) {
    test(title, () => assert.deepEqual(luccaDateToDateOnly(input), { ok: false }));
  }

  test('isValidDateOnly accepts only the exact YYYY-MM-DD form', () => {
    assert.equal(isValidDateOnly('2024-02-29'), true);
    assert.equal(isValidDateOnly('2024-02-29T00:00:00'), false);
    assert.equal(isValidDateOnly(' 2024-02-29'), false);
    assert.equal(isValidDateOnly('2023-02-29'), false);
  });
});

describe('normaliseName', () => {
  const cases: [string, unknown, string | null][] = [
    ['composes a decomposed accent (NFD → NFC)', 'Chloe\u0301', 'Chlo\u00e9'],
    ['keeps a hyphenated compound name', 'Arrou-Vignod', 'Arrou-Vignod'],
    ['keeps an apostrophe', "N'Diaye", "N'Diaye"],
    ['keeps the case Lucca sends', 'DOE', 'DOE'],
    ['trims surrounding spaces', '  Jean  ', 'Jean'],
    ['collapses inner whitespace, including tabs and non-breaking spaces', 'Jean \t\u00a0 Pierre', 'Jean Pierre'],
    ['turns a newline into a space', 'Marie\nClaire', 'Marie Claire'],
    ['strips control characters', 'Jo\u0000\u001bhn', 'John'],
    ['strips zero-width and bidi characters', '\u202eJo\u200bhn\u2069', 'John'],
    ['returns null for an empty string', '', null],
    ['returns null for whitespace only', ' \t ', null],
    ['returns null for control characters only', '\u0000\u0007', null],
    ['returns null for null', null, null],
    ['returns null for a number', 42, null],
    ['returns null for an array', ['John'], null],
  ];
  for (const [title, input, expected] of cases) {
    test(title, () => assert.equal(normaliseName(input), expected));
  }
});

describe('normaliseEmail and isValidEmail', () => {
  const normalised: [string, unknown, string | null][] = [
    ['lower-cases and trims an upper-case email with spaces', '  John.DOE@ACME.FR ', 'john.doe@acme.fr'],
    ['composes accents', 'chloe\u0301@acme.fr', 'chlo\u00e9@acme.fr'],
    ['returns null for an empty string', '', null],
    ['returns null for whitespace only', '   ', null],
    ['returns null for null', null, null],
    ['returns null for a number', 12, null],
  ];
  for (const [title, input, expected] of normalised) {
    test(`normaliseEmail ${title}`, () => assert.equal(normaliseEmail(input), expected));
  }

  const validity: [string, boolean][] = [
    ['john.doe@acme.fr', true],
    ['n.diaye+benefits@sub.acme.co.uk', true],
    ["o'brien@acme.ie", true],
    ['chlo\u00e9@acme.fr', true],
    ['john.doe@acme', false],
    ['john.doe', false],
    ['@acme.fr', false],
    ['john@@acme.fr', false],
    ['john@doe@acme.fr', false],
    ['john doe@acme.fr', false],
    ['john@acme..fr', false],
    ['john@.acme.fr', false],
    ['john@acme.fr.', false],
    ['john@-acme.fr', false],
    ['jo\u0000hn@acme.fr', false],
    [`${'a'.repeat(65)}@acme.fr`, false],
    [`${'a'.repeat(64)}@${'b'.repeat(180)}.fr`, true],
    [`${'a'.repeat(64)}@${'b'.repeat(190)}.fr`, false],
    ['', false],
  ];
  for (const [email, expected] of validity) {
    test(`isValidEmail ${expected ? 'accepts' : 'rejects'} ${JSON.stringify(email.length > 40 ? `${email.length} chars` : email)}`, () =>
      assert.equal(isValidEmail(email), expected));
  }
});

describe('mapLuccaUser', () => {
  test('maps a clean Lucca record to the six synced fields with no issues', () => {
    assert.deepEqual(mapLuccaUser(luccaUser()), {
      kind: 'ok',
      luccaUserId: 416,
      fields: {
        firstName: 'John',
        lastName: 'DOE',
        email: 'john.doe@acme.fr',
        birthDate: '1989-12-22',
        contractStart: '2014-09-01',
        contractEnd: null,
      },
      issues: [],
    });
  });

  test('ignores unknown extra fields', () => {
    const mapped = expectOk(mapLuccaUser(luccaUser({ department: { id: 3 }, modifiedOn: 'x', name: 'John DOE' })));
    assert.deepEqual(Object.keys(mapped.fields).sort(), [
      'birthDate',
      'contractEnd',
      'contractStart',
      'email',
      'firstName',
      'lastName',
    ]);
  });

  test('normalises accented, compound and apostrophe names', () => {
    const mapped = expectOk(mapLuccaUser(luccaUser({ firstName: ' Chloe\u0301 ', lastName: "N'Diaye  Arrou-Vignod" })));
    assert.equal(mapped.fields.firstName, 'Chlo\u00e9');
    assert.equal(mapped.fields.lastName, "N'Diaye Arrou-Vignod");
  });

  test('lower-cases and trims an upper-case email with spaces', () => {
    const mapped = expectOk(mapLuccaUser(luccaUser({ mail: '  JOHN.Doe@Acme.FR  ' })));
    assert.equal(mapped.fields.email, 'john.doe@acme.fr');
    assert.deepEqual(mapped.issues, []);
  });

  const skippedIds: [string, unknown][] = [
    ['skips a record without id', undefined],
    ['skips a record with a null id', null],
    ['skips a record with a numeric-string id', '416'],
    ['skips a record with id 0', 0],
    ['skips a record with a negative id', -3],
    ['skips a record with a fractional id', 4.5],
    ['skips a record with an unsafe integer id', 2 ** 53],
    ['skips a record with a NaN id', Number.NaN],
  ];
  for (const [title, id] of skippedIds) {
    test(`${title}, with no Lucca id and reason invalid-record`, () => {
      const mapped = mapLuccaUser(luccaUser({ id }));
      assert.equal(mapped.kind, 'skip');
      assert.equal(mapped.luccaUserId, null);
      assert.deepEqual(mapped.kind === 'skip' ? mapped.reasons.map((r) => r.code) : [], ['invalid-record']);
    });
  }

  const notRecords: [string, unknown][] = [
    ['null', null],
    ['a string', 'John DOE'],
    ['a number', 416],
    ['an array', [luccaUser()]],
    ['undefined', undefined],
  ];
  for (const [title, raw] of notRecords) {
    test(`skips ${title} instead of throwing`, () => {
      assert.deepEqual(mapLuccaUser(raw), {
        kind: 'skip',
        luccaUserId: null,
        reasons: [{ code: 'invalid-record', message: 'the Lucca record is not an object' }],
      });
    });
  }

  test('ignores an id inherited from the prototype', () => {
    const raw: Record<string, unknown> = Object.create({ id: 416 }) as Record<string, unknown>;
    Object.assign(raw, { firstName: 'John', lastName: 'DOE' });
    assert.equal(mapLuccaUser(raw).kind, 'skip');
  });

  const missingNames: [string, Record<string, unknown>, string][] = [
    ['skips a record with a null first name', { firstName: null }, 'firstName is empty; the user is not synced'],
    ['skips a record with a blank last name', { lastName: '  ' }, 'lastName is empty; the user is not synced'],
    ['skips a record with a numeric first name', { firstName: 7 }, 'firstName is empty; the user is not synced'],
    [
      'skips a record with both names missing',
      { firstName: undefined, lastName: '' },
      'firstName and lastName are empty; the user is not synced',
    ],
  ];
  for (const [title, overrides, message] of missingNames) {
    test(`${title}, keeping its Lucca id, reason missing-name`, () => {
      assert.deepEqual(mapLuccaUser(luccaUser(overrides)), {
        kind: 'skip',
        luccaUserId: 416,
        reasons: [{ code: 'missing-name', message }],
      });
    });
  }

  const emailIssues: [string, unknown, 'missing-email' | 'invalid-email'][] = [
    ['a null email', null, 'missing-email'],
    ['an absent email', undefined, 'missing-email'],
    ['an empty email', '', 'missing-email'],
    ['a blank email', '  ', 'missing-email'],
    ['an email without domain', 'john.doe', 'invalid-email'],
    ['an email with an inner space', 'john doe@acme.fr', 'invalid-email'],
    ['a numeric email', 42, 'invalid-email'],
    ['an object email', { address: 'john.doe@acme.fr' }, 'invalid-email'],
  ];
  for (const [title, mail, code] of emailIssues) {
    test(`keeps a record with ${title}, email null and issue ${code}`, () => {
      const mapped = expectOk(mapLuccaUser(luccaUser({ mail })));
      assert.equal(mapped.fields.email, null);
      assert.deepEqual(
        mapped.issues.map((r) => r.code),
        [code],
      );
      assert.equal(mapped.fields.firstName, 'John');
    });
  }

  const badDates: [string, string, string][] = [
    ['birthDate', 'birthDate', '2023-02-30T00:00:00'],
    ['dtContractStart', 'contractStart', '99999-01-01'],
    ['dtContractEnd', 'contractEnd', 'yesterday'],
  ];
  for (const [luccaField, field, value] of badDates) {
    test(`leaves an invalid ${luccaField} unsynced, named in unusable, with an invalid-date issue naming ${field}`, () => {
      const mapped = expectOk(mapLuccaUser(luccaUser({ [luccaField]: value })));
      assert.equal(mapped.fields[field as 'birthDate'], null);
      assert.deepEqual(mapped.unusable, [field]);
      assert.deepEqual(mapped.issues, [
        {
          code: 'invalid-date',
          message: `${field} is not a plain calendar date; not synced, the profile keeps its value`,
        },
      ]);
    });
  }

  // Every form of a date Lucca could send, through the whole mapper: the date itself, or an
  // invalid-date issue with the field left to the profile — never a date part cut from a converted value.
  const dateForms: [string, string, string | null][] = [
    ['Lucca’s own form', '1980-05-01T00:00:00', '1980-05-01'],
    ['a date-only string', '1980-05-01', '1980-05-01'],
    ['midnight with zero milliseconds', '1980-05-01T00:00:00.000', '1980-05-01'],
    ['a UTC date-time (Z)', '1980-04-30T22:00:00Z', null],
    ['a +02:00 offset', '1980-05-01T00:00:00+02:00', null],
    ['a -05:00 offset', '1980-05-01T00:00:00-05:00', null],
    ['noon', '1980-05-01T12:00:00', null],
    ['fractional seconds', '1980-05-01T00:00:00.5', null],
  ];
  for (const [what, value, expected] of dateForms) {
    for (const [luccaField, field] of [
      ['birthDate', 'birthDate'],
      ['dtContractStart', 'contractStart'],
      ['dtContractEnd', 'contractEnd'],
    ] as const) {
      test(`${luccaField} as ${what} (${value}) ${expected ? `is ${expected}` : 'is invalid-date, not cut to a date'}`, () => {
        const mapped = expectOk(mapLuccaUser(luccaUser({ [luccaField]: value })));
        assert.equal(mapped.fields[field], expected);
        assert.deepEqual(
          mapped.issues.map((r) => r.code),
          expected ? [] : ['invalid-date'],
        );
        assert.deepEqual(mapped.unusable, expected ? undefined : [field]);
      });
    }
  }

  test('reports each invalid date separately and still syncs the record', () => {
    const mapped = expectOk(
      mapLuccaUser(luccaUser({ birthDate: 0, dtContractStart: '0000-01-01', dtContractEnd: true })),
    );
    assert.deepEqual(
      mapped.issues.map((r) => r.message),
      [
        'birthDate is not a plain calendar date; not synced, the profile keeps its value',
        'contractStart is not a plain calendar date; not synced, the profile keeps its value',
        'contractEnd is not a plain calendar date; not synced, the profile keeps its value',
      ],
    );
    assert.deepEqual(mapped.unusable, ['birthDate', 'contractStart', 'contractEnd']);
    assert.equal(mapped.fields.lastName, 'DOE');
  });

  describe('length caps', () => {
    /** A value of exactly `length` characters that is valid for its field (a real email for mail). */
    const valueOf = (field: keyof typeof LUCCA_FIELD_MAX_LENGTHS, length: number): string => {
      if (field === 'mail') return `${'a'.repeat(64)}@${'b'.repeat(length - 68)}.fr`;
      if (field.startsWith('d') || field === 'birthDate') return `1980-05-01${'0'.repeat(length - 10)}`;
      return 'N'.repeat(length);
    };
    const fieldCaps = Object.entries(LUCCA_FIELD_MAX_LENGTHS) as [keyof typeof LUCCA_FIELD_MAX_LENGTHS, number][];

    test('are 255 characters for names, 254 for an email (RFC 5321) and 64 for a date', () => {
      assert.deepEqual(LUCCA_FIELD_MAX_LENGTHS, {
        firstName: 255,
        lastName: 255,
        mail: 254,
        birthDate: 64,
        dtContractStart: 64,
        dtContractEnd: 64,
      });
    });

    for (const [field, max] of fieldCaps) {
      test(`${field} of exactly ${max} characters is not skipped for its length`, () => {
        const mapped = mapLuccaUser(luccaUser({ [field]: valueOf(field, max) }));
        assert.equal(mapped.kind, 'ok', JSON.stringify(mapped).slice(0, 200));
        if (field === 'mail') assert.equal(mapped.kind === 'ok' && mapped.fields.email?.length, max);
      });

      for (const length of [max + 1, max * 10, max * 10_000]) {
        test(`${field} of ${length} characters skips the record with field-too-long, keeping its Lucca id`, () => {
          assert.deepEqual(mapLuccaUser(luccaUser({ [field]: valueOf(field, length) })), {
            kind: 'skip',
            luccaUserId: 416,
            reasons: [
              {
                code: 'field-too-long',
                message: `${field} in Lucca is over ${max} characters; the user is not synced`,
              },
            ],
          });
        });
      }
    }

    test('surrounding spaces do not count against a cap', () => {
      const mapped = expectOk(mapLuccaUser(luccaUser({ lastName: `   ${'N'.repeat(255)}   ` })));
      assert.equal(mapped.fields.lastName, 'N'.repeat(255));
    });

    test('names every field past its cap, and never the value', () => {
      const mapped = mapLuccaUser(luccaUser({ firstName: 'Chloé'.repeat(100), mail: 'zz-private'.repeat(100) }));
      assert.equal(mapped.kind, 'skip');
      const reasons = mapped.kind === 'skip' ? mapped.reasons : [];
      assert.deepEqual(
        reasons.map((r) => r.message),
        [
          'firstName in Lucca is over 255 characters; the user is not synced',
          'mail in Lucca is over 254 characters; the user is not synced',
        ],
      );
    });

    test('a record with no usable id is invalid-record, whatever the length of its fields', () => {
      const mapped = mapLuccaUser(luccaUser({ id: null, lastName: 'N'.repeat(10_000) }));
      assert.deepEqual(mapped.kind === 'skip' && mapped.reasons.map((r) => r.code), ['invalid-record']);
    });
  });

  test('never puts the person’s data in a reason message', () => {
    const personal = ['Chlo', 'Arrou', 'zz-private', '1989-12-22', '2023-02-30', '42'];
    const records = [
      luccaUser({ firstName: 'Chloé', lastName: 'Arrou-Vignod', mail: 'zz-private', birthDate: '2023-02-30' }),
      luccaUser({ firstName: 'Chloé', lastName: null, mail: 'zz-private@acme.fr', birthDate: '1989-12-22' }),
      luccaUser({ id: 'zz-private', firstName: 'Chloé' }),
      luccaUser({ mail: 42, dtContractEnd: '2023-02-30' }),
    ];
    for (const record of records) {
      const mapped = mapLuccaUser(record);
      const reasons = mapped.kind === 'ok' ? mapped.issues : mapped.reasons;
      for (const { message } of reasons) {
        for (const fragment of personal) assert.ok(!message.includes(fragment), `"${message}" leaks "${fragment}"`);
      }
    }
  });

  test('never throws on arbitrary JSON and always yields ok or skip', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (raw) => {
        const mapped = mapLuccaUser(raw);
        assert.ok(mapped.kind === 'ok' || mapped.kind === 'skip');
      }),
    );
  });

  test('yields only normalised, valid values from arbitrary Lucca-shaped records', () => {
    const anyValue = fc.oneof(
      fc.string(),
      fc.constant(null),
      fc.integer(),
      fc.boolean(),
      fc.jsonValue(),
      fc.emailAddress().map((e) => ` ${e.toUpperCase()} `),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString().replace('Z', '')),
    );
    const record = fc.record(
      {
        id: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null)),
        firstName: anyValue,
        lastName: anyValue,
        mail: anyValue,
        birthDate: anyValue,
        dtContractStart: anyValue,
        dtContractEnd: anyValue,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(record, (raw) => {
        const mapped = mapLuccaUser(raw);
        if (mapped.kind === 'skip') {
          assert.ok(mapped.reasons.length > 0);
          return;
        }
        assert.ok(Number.isSafeInteger(mapped.luccaUserId) && mapped.luccaUserId > 0);
        const { firstName, lastName, email, birthDate, contractStart, contractEnd } = mapped.fields;
        for (const name of [firstName, lastName]) {
          assert.ok(name !== null && name === name.trim() && name === name.normalize('NFC') && name !== '');
        }
        assert.ok(email === null || (isValidEmail(email) && email === email.toLowerCase()));
        for (const date of [birthDate, contractStart, contractEnd]) assert.ok(date === null || isValidDateOnly(date));
      }),
    );
  });
});
