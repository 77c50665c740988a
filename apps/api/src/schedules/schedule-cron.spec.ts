import { isTimeZone, nextSlotAfter, scheduleTimingErrors } from './schedule-cron';

const NOW = new Date('2026-12-07T11:50:20.000Z');

function fieldsOf(cron: string, timeZone = 'UTC', minIntervalSeconds = 60): string[] {
  return scheduleTimingErrors(cron, timeZone, minIntervalSeconds, NOW).map((e) => e.field);
}

describe('scheduleTimingErrors', () => {
  it('accepts five-field expressions that fire no more often than allowed', () => {
    expect(fieldsOf('* * * * *')).toEqual([]);
    expect(fieldsOf('*/5 * * * *', 'UTC', 300)).toEqual([]);
    expect(fieldsOf('0 3 * * MON-FRI', 'Europe/Berlin', 3600)).toEqual([]);
    expect(fieldsOf('0 0 L * *')).toEqual([]);
    expect(fieldsOf('30 2 * * THU')).toEqual([]);
  });

  it('refuses what cron-parser refuses, other field counts, @-names and H on cron', () => {
    for (const cron of [
      '',
      'x',
      '61 * * * *',
      '* * * *',
      '0 * * * * *',
      '@hourly',
      'H * * * *',
      '*/0 * * * *',
      '0 0 30 2 *',
    ]) {
      expect([cron, fieldsOf(cron)]).toEqual([cron, ['cron']]);
    }
  });

  it('refuses unknown zones, offsets and "local" on timeZone', () => {
    for (const zone of ['Nowhere/Zone', '+01:00', 'GMT+1', 'local', '', 'Europe/Berlin ']) {
      expect([zone, fieldsOf('0 * * * *', zone)]).toEqual([zone, ['timeZone']]);
    }
    expect(isTimeZone('America/New_York')).toBe(true);
    expect(isTimeZone('Etc/GMT+1')).toBe(true);
  });

  it('refuses an expression firing closer together than the minimum, however rarely', () => {
    expect(fieldsOf('* * * * *', 'UTC', 120)).toEqual(['cron']);
    expect(fieldsOf('*/5 * * * *', 'UTC', 301)).toEqual(['cron']);
    // Two firings a minute apart, once every four years: no day of the coming year shows them.
    expect(fieldsOf('0,1 0 29 2 *', 'UTC', 120)).toEqual(['cron']);
    const [error] = scheduleTimingErrors('* * * * *', 'UTC', 120, NOW);
    expect(error.messages[0]).toMatch(/60 s apart/);
  });

  it('counts the gap across midnight only when two days in a row fire', () => {
    expect(fieldsOf('0 0,23 * * *', 'UTC', 7200)).toEqual(['cron']);
    expect(fieldsOf('0 0,23 * * 1,3,5', 'UTC', 7200)).toEqual([]);
    expect(fieldsOf('0 0,23 * * 5,6', 'Europe/Berlin', 7200)).toEqual(['cron']);
    expect(fieldsOf('0 0,23 1 * *', 'UTC', 7200)).toEqual([]);
  });
});

describe('nextSlotAfter', () => {
  it('is strictly after the given time, in the zone', () => {
    expect(nextSlotAfter('* * * * *', 'UTC', new Date('2026-12-07T12:00:00.000Z')).toISOString()).toBe(
      '2026-12-07T12:01:00.000Z',
    );
    expect(nextSlotAfter('* * * * *', 'UTC', new Date('2026-12-07T11:59:59.999Z')).toISOString()).toBe(
      '2026-12-07T12:00:00.000Z',
    );
    expect(nextSlotAfter('0 3 * * *', 'Europe/Berlin', NOW).toISOString()).toBe('2026-12-08T02:00:00.000Z');
  });
});
