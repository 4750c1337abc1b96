import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ScheduleDescription } from '@temporalio/client';
import { loadConfig } from '../../config/env';
import { changeSchedule, getCompaniesStatus, type OperationsDeps } from '../../operations';
import {
  companyDatesScheduleOptions,
  companyScheduleOptions,
  datesFireAt,
  scheduleOffsetMs,
  upsertCompanyDatesSchedule,
  upsertCompanySchedule,
} from '../../operations/schedule';
import { datesScheduleId, scheduleId } from '../../temporal/ids';
import { addCompany, forgetCompanies, newApiKey, openStack, stackEnv, type Stack } from './helpers';

const FOUR_HOURS_MS = 4 * 3_600_000;
const TIMEZONE = 'Europe/Paris';

/** The local wall-clock time of an instant in `TIMEZONE`, as hh:mm:ss. */
const localClock = (t: Date) =>
  new Intl.DateTimeFormat('en-GB', {
    timeZone: TIMEZONE,
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).format(t);

const clockOf = (at: { hour: number; minute: number; second: number }) =>
  [at.hour, at.minute, at.second].map((n) => String(n).padStart(2, '0')).join(':');

/**
 * A fleet's schedules fire at each company's own offset in its interval, and its date rolls at
 * each company's own second after local midnight, as Temporal itself describes them and computes
 * their next firings (what `status` and the console show); a schedule made before offsets takes
 * its own when resumed. No worker: nothing here needs a firing to run.
 */
describe("a fleet's schedules spread over their interval, on the real Temporal server", () => {
  let stack: Stack;
  let deps: OperationsDeps;
  const companies: string[] = [];

  before(async () => {
    stack = await openStack('spread');
    deps = { repos: stack.repos, client: stack.client, config: loadConfig(stackEnv(stack)) };
  });

  after(async () => {
    await forgetCompanies(stack, companies, 'test over');
    await stack.close();
  });

  /**
   * Two stored companies; their ids drawn (at most 50 times) until their 4-hour offsets are at
   * least 10 minutes apart, which about 6 draws in 7 are.
   */
  async function twoCompanies(prefix: string): Promise<[string, string]> {
    const first = `${prefix}-a-${companies.length}-${Date.now().toString(36)}`;
    let second = `${prefix}-b-0-${Date.now().toString(36)}`;
    const apart = () =>
      Math.abs(scheduleOffsetMs(second, FOUR_HOURS_MS) - scheduleOffsetMs(first, FOUR_HOURS_MS)) >= 600_000;
    for (let i = 1; i < 50 && !apart(); i++) second = `${prefix}-b-${i}-${Date.now().toString(36)}`;
    for (const companyId of [first, second]) {
      companies.push(companyId);
      await addCompany(stack, { companyId, tenant: companyId, apiKey: newApiKey(), timezone: TIMEZONE });
    }
    return [first, second];
  }

  /** Every next firing Temporal lists is `offset` past a multiple of the interval, the first within one interval. */
  function assertFiresAtOffset(companyId: string, description: ScheduleDescription, everyMs: number): void {
    const offset = scheduleOffsetMs(companyId, everyMs);
    assert.deepEqual(
      (description.spec.intervals ?? []).map((i) => [i.every, i.offset]),
      [[everyMs, offset]],
      `${companyId}: the described spec carries its offset`,
    );
    assert.equal(description.spec.jitter ?? 0, 0, 'no jitter: the next run shown is the next run');
    const next = description.info.nextActionTimes;
    assert.ok(next.length >= 2, `${companyId}: Temporal lists its next firings`);
    for (const at of next) {
      assert.equal(
        (at.getTime() - offset) % everyMs,
        0,
        `${companyId}: ${at.toISOString()} is ${offset / 1000} s past a ${everyMs / 3_600_000} h boundary`,
      );
    }
    assert.ok(
      next[0]!.getTime() > Date.now() && next[0]!.getTime() <= Date.now() + everyMs,
      'the next within one interval',
    );
  }

  test('two companies on a 4-hour cadence fire at their own offsets, and status shows those times', async () => {
    const ids = await twoCompanies('spread');
    for (const companyId of ids) {
      await upsertCompanySchedule(stack.client, { companyId, every: '4h', taskQueue: stack.taskQueue });
      await upsertCompanyDatesSchedule(stack.client, { companyId, timezone: TIMEZONE, taskQueue: stack.taskQueue });
    }
    const firstFirings: number[] = [];
    for (const companyId of ids) {
      const sync = await stack.client.schedule.getHandle(scheduleId(companyId)).describe();
      assertFiresAtOffset(companyId, sync, FOUR_HOURS_MS);
      firstFirings.push(sync.info.nextActionTimes[0]!.getTime() % FOUR_HOURS_MS);
      const [status] = await getCompaniesStatus(deps, { companyId });
      assert.equal(status?.schedule.nextRunAt?.getTime(), sync.info.nextActionTimes[0]!.getTime(), 'status shows it');

      const dates = await stack.client.schedule.getHandle(datesScheduleId(companyId)).describe();
      const expected = clockOf(datesFireAt(companyId));
      assert.ok(dates.info.nextActionTimes.length >= 2);
      for (const at of dates.info.nextActionTimes)
        assert.equal(localClock(at), expected, `${companyId}: its date roll at ${expected} ${TIMEZONE}`);
    }
    assert.ok(
      Math.abs(firstFirings[0]! - firstFirings[1]!) >= 600_000,
      `the two fire at least 10 min apart in the interval (${firstFirings.map((t) => t / 1000).join(' s, ')} s)`,
    );
    const [a, b] = ids.map((id) => clockOf(datesFireAt(id)));
    assert.match(
      `${a} ${b}`,
      /^00:(0[5-9]|[12]\d|3[0-4]):\d\d 00:(0[5-9]|[12]\d|3[0-4]):\d\d$/,
      'both within 00:05–00:35',
    );
  });

  test('a schedule made before offsets (every 6h, jitter, dates at 00:05) takes its offset and its second when resumed', async () => {
    const [companyId] = await twoCompanies('respread');
    const sync = companyScheduleOptions({ companyId: companyId, every: '6h', taskQueue: stack.taskQueue });
    await stack.client.schedule.create({
      ...sync,
      spec: { intervals: [{ every: 6 * 3_600_000 }], jitter: 5 * 60_000 },
      state: { ...sync.state, paused: true },
    });
    const dates = companyDatesScheduleOptions({
      companyId: companyId,
      timezone: TIMEZONE,
      taskQueue: stack.taskQueue,
    });
    await stack.client.schedule.create({
      ...dates,
      spec: { calendars: [{ hour: 0, minute: 5 }], timezone: TIMEZONE },
      state: { ...dates.state, paused: true },
    });
    await stack.repos.companies.setSchedule(companyId, { every: '6h', paused: true }, new Date());

    const resumed = await changeSchedule(deps, { companyId: companyId, change: { resume: true } });
    const described = await stack.client.schedule.getHandle(scheduleId(companyId)).describe();
    assert.equal(described.state.paused, false);
    assertFiresAtOffset(companyId, described, 6 * 3_600_000);
    assert.equal(resumed.nextRunAt?.getTime(), described.info.nextActionTimes[0]!.getTime());
    const datesDescribed = await stack.client.schedule.getHandle(datesScheduleId(companyId)).describe();
    assert.equal(datesDescribed.state.paused, false);
    assert.equal(localClock(datesDescribed.info.nextActionTimes[0]!), clockOf(datesFireAt(companyId)));
  });

  /**
   * The server applies an unpause and an update that reach a schedule together unpause first,
   * then the update's state as it was read: paused. Resumed as an update then an unpause, some of
   * a fleet resumed at once stayed paused (the fleet benchmark: 3 of 20).
   */
  test('a fleet paused and resumed all at once is resumed whole, both schedules of every company', async () => {
    const ids = Array.from({ length: 16 }, (_, i) => `resume-all-${i}-${Date.now().toString(36)}`);
    for (const companyId of ids) {
      companies.push(companyId);
      await addCompany(stack, { companyId, tenant: companyId, apiKey: newApiKey(), timezone: TIMEZONE });
      await upsertCompanySchedule(stack.client, { companyId, every: '24h', taskQueue: stack.taskQueue });
      await upsertCompanyDatesSchedule(stack.client, { companyId, timezone: TIMEZONE, taskQueue: stack.taskQueue });
    }
    await Promise.all(ids.map((companyId) => changeSchedule(deps, { companyId, change: { pause: true } })));
    const results = await Promise.all(
      ids.map((companyId) => changeSchedule(deps, { companyId, change: { resume: true } })),
    );
    const stillPaused: string[] = [];
    for (const [i, companyId] of ids.entries()) {
      assert.equal(results[i]!.paused, false, `${companyId}: the resume says resumed`);
      const sync = await stack.client.schedule.getHandle(scheduleId(companyId)).describe();
      const dates = await stack.client.schedule.getHandle(datesScheduleId(companyId)).describe();
      if (sync.state.paused) stillPaused.push(scheduleId(companyId));
      if (dates.state.paused) stillPaused.push(datesScheduleId(companyId));
      assert.match(sync.state.note ?? '', /^Resumed by the operator/, `${companyId}: its note says who resumed it`);
    }
    assert.deepEqual(stillPaused, [], 'no schedule left paused');
  });
});
