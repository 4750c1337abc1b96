import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { companyToday, statusFor } from '../../domain/status';
import type { ProfileStatus } from '../../domain/types';

describe('companyToday', () => {
  const cases: [string, string, string, string][] = [
    ['is already tomorrow in Paris late on New Year’s Eve UTC', 'Europe/Paris', '2026-01-01T23:30:00Z', '2026-01-02'],
    ['is still today in New York late on New Year’s Day UTC', 'America/New_York', '2026-01-01T23:30:00Z', '2026-01-01'],
    [
      'is still yesterday in New York just after midnight UTC',
      'America/New_York',
      '2026-01-02T03:00:00Z',
      '2026-01-01',
    ],
    ['follows summer time in Paris (UTC+2)', 'Europe/Paris', '2026-06-30T22:30:00Z', '2026-07-01'],
    ['stays on the UTC date before the Paris midnight in summer', 'Europe/Paris', '2026-06-30T21:59:59Z', '2026-06-30'],
    [
      'works for a zone ahead of UTC by more than half a day',
      'Pacific/Kiritimati',
      '2026-03-01T10:00:00Z',
      '2026-03-02',
    ],
    ['works for UTC itself', 'UTC', '2024-02-29T12:00:00Z', '2024-02-29'],
  ];
  for (const [title, zone, instant, expected] of cases) {
    test(title, () => assert.equal(companyToday(zone, new Date(instant)), expected));
  }

  test('throws on an unknown time zone rather than guessing one', () => {
    assert.throws(() => companyToday('Mars/Olympus_Mons', new Date('2026-01-01T00:00:00Z')), RangeError);
  });
});

describe('statusFor', () => {
  const today = '2026-01-15';
  const cases: [string, string | null, string | null, ProfileStatus][] = [
    ['is active with an open contract that has started', '2020-01-01', null, 'active'],
    ['is active with no contract dates at all', null, null, 'active'],
    ['is active on the first day of the contract', today, null, 'active'],
    ['is active on the last day of the contract', '2020-01-01', today, 'active'],
    ['is active before a future end date (leaving soon)', '2020-01-01', '2026-03-31', 'active'],
    ['is upcoming when the contract starts tomorrow (future hire)', '2026-01-16', null, 'upcoming'],
    ['is upcoming for a future hire with a fixed-term contract', '2026-02-01', '2026-08-31', 'upcoming'],
    ['is former the day after the contract ended (leaver)', '2020-01-01', '2026-01-14', 'former'],
    ['is former when only an end date in the past is known', null, '2019-06-30', 'former'],
  ];
  for (const [title, contractStart, contractEnd, expected] of cases) {
    test(title, () => assert.equal(statusFor({ contractStart, contractEnd }, today), expected));
  }
});
