import { AuditService } from '../audit/audit.service';
import { AppConfig } from '../config/app-config';
import { REFUSAL_WINDOW_MS, RefusedUpgrade, UpgradeRefusals } from './upgrade-refusals';

describe('UpgradeRefusals', () => {
  const limit = 3;
  let rows: Array<Record<string, unknown>>;
  let refusals: UpgradeRefusals;
  const refusal = (over: Partial<RefusedUpgrade> = {}): RefusedUpgrade => ({
    ip: '192.0.2.1',
    vmId: 'vm-1',
    statusCode: 401,
    errorCode: 'CONSOLE_TICKET_INVALID',
    userAgent: 'x'.repeat(512),
    ...over,
  });

  beforeEach(() => {
    jest.useFakeTimers();
    rows = [];
    const audit = {
      record: jest.fn(async (row: Record<string, unknown>) => void rows.push(row)),
    } as unknown as AuditService;
    refusals = new UpgradeRefusals(audit, { authRateLimitPerMinute: limit } as AppConfig);
  });
  afterEach(() => {
    refusals.onApplicationShutdown();
    jest.useRealTimers();
  });

  it('security 11.7: admits LIMIT upgrades per IP and minute, gives back those that connected, then says when to retry', () => {
    expect([refusals.admit('192.0.2.1'), refusals.admit('192.0.2.1'), refusals.admit('192.0.2.1')]).toEqual([0, 0, 0]);
    expect(refusals.admit('192.0.2.1')).toBe(60);
    expect(refusals.admit('192.0.2.2')).toBe(0); // per IP
    refusals.connected('192.0.2.1');
    expect(refusals.admit('192.0.2.1')).toBe(0);
    jest.advanceTimersByTime(20_000);
    expect(refusals.admit('192.0.2.1')).toBe(40);
    jest.advanceTimersByTime(REFUSAL_WINDOW_MS - 20_000);
    expect(refusals.admit('192.0.2.1')).toBe(0);
  });

  it('security 11.7: records the first refusal of each kind at once and the repeats as one counted row per minute, User-Agent cut to 128', () => {
    for (let i = 0; i < 500; i++) refusals.record(refusal());
    for (let i = 0; i < 50; i++) refusals.record(refusal({ statusCode: 429, errorCode: 'RATE_LIMITED' }));
    refusals.record(refusal({ ip: '192.0.2.9' }));
    expect(rows.map((r) => [r.ip, r.statusCode, r.details])).toEqual([
      ['192.0.2.1', 401, null],
      ['192.0.2.1', 429, null],
      ['192.0.2.9', 401, null],
    ]);
    expect(rows.every((r) => r.userAgent === 'x'.repeat(128))).toBe(true);
    jest.advanceTimersByTime(REFUSAL_WINDOW_MS);
    expect(rows.slice(3).map((r) => [r.ip, r.statusCode, r.details])).toEqual([
      ['192.0.2.1', 401, { repeatedRefusals: 499, windowSeconds: 60 }],
      ['192.0.2.1', 429, { repeatedRefusals: 49, windowSeconds: 60 }],
    ]);
    // A new minute starts afresh.
    refusals.record(refusal());
    expect(rows).toHaveLength(6);
  });
});
