import { SchedulerRegistry } from '@nestjs/schedule';
import { AppConfig } from '../config/app-config';
import { Transactions, Tx } from '../database/transaction';
import { EventRecord } from '../events/event.entity';
import { EventsService, NewEvent } from '../events/events.service';
import { AlertEvaluator } from './alert-evaluator';
import { AlertChange, AlertNotifier } from './alert-notifier';
import { AlertRule } from './alert-rule.entity';
import { AlertRuleRepository } from './alert-rule.repository';
import { AlertSampler } from './alert-sampler';
import { AlertSilence } from './alert-silence.entity';
import { AlertSilenceRepository } from './alert-silence.repository';
import { Samples } from './alert-transitions';
import { Alert } from './alert.entity';
import { AlertRepository } from './alert.repository';

/** The alerting tables in memory, behind the methods the evaluator uses. */
class FakeAlertTables {
  rules: AlertRule[] = [];
  alerts = new Map<string, Alert>();
  silences: AlertSilence[] = [];
  lockFree = true;
  private next = 1;

  readonly ruleRepository = {
    findEnabled: async () => this.rules.filter((rule) => rule.enabled),
    findAll: async () => [...this.rules],
  };

  readonly alertRepository = {
    tryLockEvaluation: async () => this.lockFree,
    findOpen: async () =>
      [...this.alerts.values()].filter((a) => a.state !== 'resolved').map((a) => Object.assign(new Alert(), a)),
    save: async (_tx: Tx, alert: Partial<Alert>) => {
      const id = alert.id ?? `alert-${this.next++}`;
      const saved = Object.assign(new Alert(), { createdAt: new Date(), ackedBy: null, ackedAt: null }, alert, { id });
      this.alerts.set(id, saved);
      return saved;
    },
    delete: async (_tx: Tx, id: string) => void this.alerts.delete(id),
  };

  readonly silenceRepository = {
    activeAt: async (now: Date) => this.silences.filter((s) => s.until > now),
  };
}

const rule = (extra: Partial<AlertRule> = {}): AlertRule =>
  Object.assign(new AlertRule(), {
    id: 'r1',
    name: 'root disk',
    metric: 'host.disk.percent',
    comparator: '>=',
    threshold: 85,
    forSeconds: 0,
    severity: 'critical',
    enabled: true,
    ...extra,
  });

describe('AlertEvaluator', () => {
  let tables: FakeAlertTables;
  let disk: Map<string, number>;
  let appended: NewEvent[];
  let announced: EventRecord[][];
  let dispatched: AlertChange[][];
  let evaluator: AlertEvaluator;

  beforeEach(() => {
    tables = new FakeAlertTables();
    disk = new Map();
    appended = [];
    announced = [];
    dispatched = [];
    const sampler = {
      sampleHost: async (): Promise<Samples> => new Map([['host.disk.percent', disk]]),
      sampleDatabase: async (): Promise<Samples> => new Map(),
    };
    const events = {
      append: async (_manager: unknown, event: NewEvent) => {
        appended.push(event);
        return { id: String(appended.length), ...event } as unknown as EventRecord;
      },
      announce: (records: EventRecord[]) => announced.push(records),
    };
    evaluator = new AlertEvaluator(
      {} as AppConfig,
      { run: (work: (tx: Tx) => Promise<unknown>) => work({} as Tx) } as Transactions,
      tables.ruleRepository as unknown as AlertRuleRepository,
      tables.alertRepository as unknown as AlertRepository,
      tables.silenceRepository as unknown as AlertSilenceRepository,
      sampler as unknown as AlertSampler,
      { dispatch: (changes: AlertChange[]) => dispatched.push(changes) } as unknown as AlertNotifier,
      events as unknown as EventsService,
      {} as SchedulerRegistry,
    );
  });

  const alertOf = (e: NewEvent) => ('alert' in e.payload ? e.payload.alert : undefined);
  const eventTypes = () => appended.map((e) => `${e.type} ${alertOf(e)?.state}`);

  it('records, announces and notifies a rule that fires at once, then its resolution', async () => {
    tables.rules = [rule()];
    disk.set('/', 90);
    expect(await evaluator.evaluate()).toBe(true);
    expect([...tables.alerts.values()]).toEqual([
      expect.objectContaining({ state: 'firing', value: 90, subject: '/' }),
    ]);
    disk.set('/', 50);
    expect(await evaluator.evaluate()).toBe(true);
    expect(eventTypes()).toEqual(['alert.firing firing', 'alert.resolved resolved']);
    expect(announced.flat()).toHaveLength(2);
    expect(dispatched.map((changes) => changes.map((c) => `${c.event} ${c.silenced}`))).toEqual([
      ['firing false'],
      ['resolved false'],
    ]);
  });

  it('keeps a pending instance to itself, and drops it without a word when the condition clears before `for`', async () => {
    tables.rules = [rule({ forSeconds: 60 })];
    disk.set('/', 90);
    await evaluator.evaluate();
    expect([...tables.alerts.values()]).toEqual([expect.objectContaining({ state: 'pending' })]);
    disk.set('/', 91);
    await evaluator.evaluate();
    expect([...tables.alerts.values()]).toEqual([expect.objectContaining({ state: 'pending', value: 91 })]);
    disk.set('/', 10);
    await evaluator.evaluate();
    expect(tables.alerts.size).toBe(0);
    expect(appended).toEqual([]);
    expect(dispatched.flat()).toEqual([]);
  });

  it('fires a pending instance once `for` has passed', async () => {
    tables.rules = [rule({ forSeconds: 60 })];
    disk.set('/', 90);
    await evaluator.evaluate();
    const [pending] = tables.alerts.values();
    pending.pendingSince = new Date(Date.now() - 61_000);
    await evaluator.evaluate();
    expect(tables.alerts.get(pending.id)).toEqual(
      expect.objectContaining({ state: 'firing', firedAt: expect.any(Date) }),
    );
    expect(eventTypes()).toEqual(['alert.firing firing']);
  });

  it('records and streams a silenced change, but marks it silenced for the notifier', async () => {
    tables.rules = [rule()];
    tables.silences = [
      Object.assign(new AlertSilence(), { ruleId: 'r1', subject: '/', until: new Date(Date.now() + 3600_000) }),
    ];
    disk.set('/', 90);
    await evaluator.evaluate();
    expect(eventTypes()).toEqual(['alert.firing firing']);
    expect(alertOf(appended[0])?.silencedUntil).not.toBeNull();
    expect(dispatched.flat().map((c) => c.silenced)).toEqual([true]);
  });

  it('changes nothing while another replica holds the evaluation lock', async () => {
    tables.rules = [rule()];
    tables.lockFree = false;
    disk.set('/', 90);
    expect(await evaluator.evaluate()).toBe(false);
    expect(tables.alerts.size).toBe(0);
    expect(appended).toEqual([]);
    expect(dispatched).toEqual([]);
  });
});
