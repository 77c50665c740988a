import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { AppConfig } from '../config/app-config';
import { Transactions, Tx } from '../database/transaction';
import { EventRecord } from '../events/event.entity';
import { EventsService } from '../events/events.service';
import { AlertMetric } from './alert-metrics';
import { AlertRuleRepository } from './alert-rule.repository';
import { AlertSampler } from './alert-sampler';
import { AlertSilenceRepository } from './alert-silence.repository';
import { OpenAlert, planTransitions, Samples, Transition } from './alert-transitions';
import { Alert } from './alert.entity';
import { AlertRepository } from './alert.repository';
import { AlertChange, AlertNotifier } from './alert-notifier';
import { AlertDto } from './dto/alert.dto';

const INTERVAL_NAME = 'alert-evaluation';

const silenceKey = (ruleId: string, subject: string) => `${ruleId}\u0000${subject}`;

/** The transitions the world hears about; pending instances and new values stay internal. */
function announcedAs(t: Transition): AlertChange['event'] | undefined {
  if (t.kind === 'open') return t.fire ? 'firing' : undefined;
  if (t.kind === 'fire') return 'firing';
  if (t.kind === 'resolve') return 'resolved';
  return undefined;
}

/**
 * Evaluates every enabled rule each ALERT_EVAL_INTERVAL_SECONDS. The whole write phase runs in
 * one transaction holding a Postgres advisory lock, so replicas take turns and each sees the
 * instances the previous one left: a change is decided, recorded and announced exactly once.
 * Events go out after commit; notifications after that, in the background.
 */
@Injectable()
export class AlertEvaluator implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Alerting');
  private running?: Promise<boolean>;

  constructor(
    private readonly config: AppConfig,
    private readonly transactions: Transactions,
    private readonly rules: AlertRuleRepository,
    private readonly alerts: AlertRepository,
    private readonly silences: AlertSilenceRepository,
    private readonly sampler: AlertSampler,
    private readonly notifier: AlertNotifier,
    private readonly events: EventsService,
    private readonly scheduler: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    this.scheduler.addInterval(
      INTERVAL_NAME,
      setInterval(() => void this.evaluate(), this.config.alerting.evalIntervalSeconds * 1000),
    );
    void this.evaluate();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.scheduler.doesExist('interval', INTERVAL_NAME)) this.scheduler.deleteInterval(INTERVAL_NAME);
    await this.running;
  }

  /** One round. False when another replica holds the lock, a round is already running here, or it failed. */
  evaluate(): Promise<boolean> {
    if (this.running) return Promise.resolve(false);
    this.running = this.round()
      .catch((error) => {
        this.logger.warn(`alert evaluation failed: ${(error as Error).message}`);
        return false;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async round(): Promise<boolean> {
    const enabled = await this.rules.findEnabled();
    const needed = new Set<AlertMetric>(enabled.map((rule) => rule.metric));
    const host = await this.sampler.sampleHost(needed);
    const outcome = await this.transactions.run(async (tx) => {
      if (!(await this.alerts.tryLockEvaluation(tx))) return undefined;
      const samples: Samples = new Map([...host, ...(await this.sampler.sampleDatabase(tx, needed))]);
      return this.apply(tx, samples, new Date());
    });
    if (!outcome) return false;
    this.events.announce(outcome.events);
    this.notifier.dispatch(outcome.changes);
    return true;
  }

  private async apply(tx: Tx, samples: Samples, now: Date): Promise<{ events: EventRecord[]; changes: AlertChange[] }> {
    // Re-read under the lock: an admin may have changed rules while we sampled.
    const rules = new Map((await this.rules.findAll(tx)).map((rule) => [rule.id, rule]));
    const open = await this.alerts.findOpen(tx);
    const transitions = planTransitions(
      [...rules.values()].filter((rule) => rule.enabled),
      samples,
      open.map((alert) => alert as OpenAlert),
      now,
    );
    const silences = new Map(
      (await this.silences.activeAt(now, { tx })).map((s) => [silenceKey(s.ruleId, s.subject), s.until]),
    );
    const openById = new Map(open.map((alert) => [alert.id, alert]));
    const events: EventRecord[] = [];
    const changes: AlertChange[] = [];

    for (const transition of transitions) {
      const alert = await this.write(tx, transition, openById, now);
      const event = announcedAs(transition);
      if (!alert || !event) continue;
      const silencedUntil = silences.get(silenceKey(alert.ruleId, alert.subject)) ?? null;
      const dto = AlertDto.from(alert, rules.get(alert.ruleId)!, silencedUntil);
      events.push(await this.events.append(tx, { type: `alert.${event}`, ownerId: null, payload: { alert: dto } }));
      changes.push({ event, alert: dto, silenced: silencedUntil !== null });
    }
    return { events, changes };
  }

  /** Applies one transition; returns the instance as it now is (undefined when discarded). */
  private async write(tx: Tx, t: Transition, open: Map<string, Alert>, now: Date): Promise<Alert | undefined> {
    switch (t.kind) {
      case 'open':
        return this.alerts.save(tx, {
          ruleId: t.ruleId,
          subject: t.subject,
          state: t.fire ? 'firing' : 'pending',
          value: t.value,
          pendingSince: now,
          firedAt: t.fire ? now : null,
        });
      case 'discard':
        await this.alerts.delete(tx, t.alertId);
        return undefined;
      case 'fire':
        return this.alerts.save(
          tx,
          Object.assign(open.get(t.alertId)!, { state: 'firing', value: t.value, firedAt: now }),
        );
      case 'observe':
        return this.alerts.save(tx, Object.assign(open.get(t.alertId)!, { value: t.value }));
      case 'resolve':
        return this.alerts.save(tx, Object.assign(open.get(t.alertId)!, { state: 'resolved', resolvedAt: now }));
    }
  }
}
