import { HttpStatus, Injectable } from '@nestjs/common';
import { AuthUser } from '../auth/decorators';
import { AppException, ErrorCode } from '../common/problem';
import { Transactions, Tx } from '../database/transaction';
import { EventsService } from '../events/events.service';
import { AlertRuleRepository } from './alert-rule.repository';
import { AlertSilenceRepository } from './alert-silence.repository';
import { Alert } from './alert.entity';
import { AlertRepository } from './alert.repository';
import { AlertDto, ListAlertsQueryDto, SilenceAlertDto } from './dto/alert.dto';

const MAX_SILENCE_MS = 90 * 86400 * 1000;

/** Reading alert instances, acknowledging them, and silencing their rule and subject. */
@Injectable()
export class AlertsService {
  constructor(
    private readonly transactions: Transactions,
    private readonly alerts: AlertRepository,
    private readonly rules: AlertRuleRepository,
    private readonly silences: AlertSilenceRepository,
    private readonly events: EventsService,
  ) {}

  async list(query: ListAlertsQueryDto): Promise<{ items: AlertDto[]; nextCursor: string | null }> {
    const page = await this.alerts.page(query, query.state);
    return { items: await this.present(page.items), nextCursor: page.nextCursor };
  }

  async get(id: string): Promise<AlertDto> {
    const [dto] = await this.present([await this.find(id)]);
    return dto;
  }

  /** Records who acknowledged a firing alert and when. Acknowledging again changes nothing. */
  async ack(user: AuthUser, id: string): Promise<AlertDto> {
    const { dto, event } = await this.transactions.run(async (tx) => {
      const alert = await this.find(id, tx, true);
      if (alert.state !== 'firing')
        throw new AppException(
          HttpStatus.CONFLICT,
          ErrorCode.INVALID_STATE,
          `Only a firing alert can be acknowledged; this one is ${alert.state}`,
        );
      if (alert.ackedAt) return { dto: (await this.present([alert], tx))[0], event: undefined };
      await this.alerts.recordAck(tx, id, user.id, new Date());
      const [dto] = await this.present([await this.find(id, tx)], tx);
      return {
        dto,
        event: await this.events.append(tx, {
          type: 'alert.acked',
          ownerId: null,
          payload: { alert: dto, by: { id: user.id, username: user.username } },
        }),
      };
    });
    if (event) this.events.announce([event]);
    return dto;
  }

  /** Holds back notifications for the alert's rule and subject until `until` (or for `forMinutes`), across re-firings. */
  async silence(user: AuthUser, id: string, when: SilenceAlertDto): Promise<AlertDto> {
    if (when.until !== undefined && when.forMinutes !== undefined) {
      throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, 'Validation failed for forMinutes', {
        errors: [{ field: 'forMinutes', messages: ['give until or forMinutes, not both'] }],
      });
    }
    const at = when.until !== undefined ? new Date(when.until) : new Date(Date.now() + when.forMinutes! * 60_000);
    const ahead = at.getTime() - Date.now();
    if (!(ahead > 0 && ahead <= MAX_SILENCE_MS)) {
      throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, 'Validation failed for until', {
        errors: [{ field: 'until', messages: ['until must be in the future and at most 90 days ahead'] }],
      });
    }
    return this.transactions.run(async (tx) => {
      const alert = await this.find(id, tx);
      await this.silences.put(tx, { ruleId: alert.ruleId, subject: alert.subject, until: at, createdBy: user.id });
      return (await this.present([alert], tx))[0];
    });
  }

  async unsilence(id: string): Promise<AlertDto> {
    return this.transactions.run(async (tx) => {
      const alert = await this.find(id, tx);
      await this.silences.delete(tx, alert.ruleId, alert.subject);
      return (await this.present([alert], tx))[0];
    });
  }

  private async find(id: string, tx?: Tx, lock = false): Promise<Alert> {
    const alert = await this.alerts.find(id, tx, { lock });
    if (!alert) throw AppException.notFound('Alert');
    return alert;
  }

  /** Adds each alert's rule fields and active silence. */
  private async present(alerts: Alert[], tx?: Tx): Promise<AlertDto[]> {
    if (alerts.length === 0) return [];
    const ruleIds = [...new Set(alerts.map((a) => a.ruleId))];
    const rules = new Map((await this.rules.findByIds(ruleIds, tx)).map((rule) => [rule.id, rule]));
    const silences = await this.silences.activeAt(new Date(), { ruleIds, tx });
    const untilOf = (alert: Alert) =>
      silences.find((s) => s.ruleId === alert.ruleId && s.subject === alert.subject)?.until ?? null;
    return alerts.map((alert) => AlertDto.from(alert, rules.get(alert.ruleId)!, untilOf(alert)));
  }
}
