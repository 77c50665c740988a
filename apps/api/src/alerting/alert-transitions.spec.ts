import { OpenAlert, planTransitions, RuleCondition, Samples } from './alert-transitions';

const now = new Date('2026-11-26T12:00:00.000Z');
const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);
const rule = (extra: Partial<RuleCondition> = {}): RuleCondition => ({
  id: 'r1',
  metric: 'host.disk.percent',
  comparator: '>=',
  threshold: 85,
  forSeconds: 60,
  ...extra,
});
const samples = (values: Record<string, number>, metric: RuleCondition['metric'] = 'host.disk.percent'): Samples =>
  new Map([[metric, new Map(Object.entries(values))]]);
const open = (extra: Partial<OpenAlert>): OpenAlert => ({
  id: 'a1',
  ruleId: 'r1',
  subject: '/',
  state: 'pending',
  pendingSince: ago(10),
  value: 90,
  ...extra,
});

describe('planTransitions', () => {
  it('opens a pending instance per breaching subject, or a firing one when the rule has no `for`', () => {
    expect(planTransitions([rule()], samples({ '/': 90, '/boot': 20 }), [], now)).toEqual([
      { kind: 'open', ruleId: 'r1', subject: '/', value: 90, fire: false },
    ]);
    expect(planTransitions([rule({ forSeconds: 0 })], samples({ '/': 90 }), [], now)).toEqual([
      { kind: 'open', ruleId: 'r1', subject: '/', value: 90, fire: true },
    ]);
  });

  it('fires a pending instance only once the condition has held for `for` seconds', () => {
    expect(planTransitions([rule()], samples({ '/': 91 }), [open({ pendingSince: ago(59) })], now)).toEqual([
      { kind: 'observe', alertId: 'a1', value: 91 },
    ]);
    expect(planTransitions([rule()], samples({ '/': 91 }), [open({ pendingSince: ago(60) })], now)).toEqual([
      { kind: 'fire', alertId: 'a1', value: 91 },
    ]);
  });

  it('resolves a firing instance and discards a pending one when the condition clears', () => {
    expect(planTransitions([rule()], samples({ '/': 50 }), [open({ state: 'firing' })], now)).toEqual([
      { kind: 'resolve', alertId: 'a1' },
    ]);
    expect(planTransitions([rule()], samples({ '/': 50 }), [open({})], now)).toEqual([
      { kind: 'discard', alertId: 'a1' },
    ]);
  });

  it('leaves instances alone while their metric is unknown, and changes nothing for a steady value', () => {
    expect(planTransitions([rule()], new Map(), [open({ state: 'firing' })], now)).toEqual([]);
    expect(planTransitions([rule()], samples({ '/': 90 }), [open({ state: 'firing', value: 90 })], now)).toEqual([]);
  });

  it('resolves instances of disabled or deleted rules and of vanished subjects', () => {
    expect(planTransitions([], samples({ '/': 90 }), [open({ state: 'firing' })], now)).toEqual([
      { kind: 'resolve', alertId: 'a1' },
    ]);
    expect(planTransitions([rule()], samples({ '/boot': 20 }), [open({ state: 'firing' })], now)).toEqual([
      { kind: 'resolve', alertId: 'a1' },
    ]);
  });

  it('compares with every comparator', () => {
    const cases: Array<[RuleCondition['comparator'], number, boolean]> = [
      ['>', 85, false],
      ['>=', 85, true],
      ['<', 85, false],
      ['<=', 85, true],
      ['==', 85, true],
      ['==', 85.1, false],
    ];
    for (const [comparator, value, fires] of cases) {
      expect(planTransitions([rule({ comparator, forSeconds: 0 })], samples({ '/': value }), [], now)).toHaveLength(
        fires ? 1 : 0,
      );
    }
  });
});
