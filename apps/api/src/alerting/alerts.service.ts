import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, In, MoreThan } from 'typeorm';
import { AuthUser } from '../auth/decorators';
import { paginate } from '../database/paginate';
import { AppException, ErrorCode } from '../common/problem';
import { EventsService } from '../events/events.service';
import { AlertRule } from './alert-rule.entity';
import { AlertSilence } from './alert-silence.entity';
import { Alert } from './alert.entity';
import { AlertDto, ListAlertsQueryDto, SilenceAlertDto } from './dto/alert.dto';

const MAX_SILENCE_MS = 90 * 86400 * 1000;

/** Reading alert instances, acknowledging them, and silencing their rule and subject. */
@Injectable()
export class AlertsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly events: EventsService,
  ) {}

  async list(query: ListAlertsQueryDto): Promise<{ items: AlertDto[]; nextCursor: string | null }> {
    const builder = this.dataSource.getRepository(Alert).createQueryBuilder('alert');
    if (query.state) builder.where('alert.state = :state', { state: query.state });
    const page = await paginate(builder, query);
    return { items: await this.present(this.dataSource.manager, page.items), nextCursor: page.nextCursor };
  }

  async get(id: string): Promise<AlertDto> {
    const [dto] = await this.present(this.dataSource.manager, [await this.find(this.dataSource.manager, id)]);
    return dto;
  }

  /** Records who acknowledged a firing alert and when. Acknowledging again changes nothing. */
  async ack(user: AuthUser, id: string): Promise<AlertDto> {
    const { dto, event } = await this.dataSource.transaction(async (m) => {
      const alert = await this.find(m, id, true);
      if (alert.state !== 'firing')
        throw new AppException(
          HttpStatus.CONFLICT,
          ErrorCode.INVALID_STATE,
          `Only a firing alert can be acknowledged; this one is ${alert.state}`,
        );
      if (alert.ackedAt) return { dto: (await this.present(m, [alert]))[0], event: undefined };
      await m.update(Alert, { id }, { ackedBy: user.id, ackedAt: new Date() });
      const [dto] = await this.present(m, [await this.find(m, id)]);
      return {
        dto,
        event: await this.events.append(m, {
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
    return this.dataSource.transaction(async (m) => {
      const alert = await this.find(m, id);
      await m.upsert(AlertSilence, { ruleId: alert.ruleId, subject: alert.subject, until: at, createdBy: user.id }, [
        'ruleId',
        'subject',
      ]);
      return (await this.present(m, [alert]))[0];
    });
  }

  async unsilence(id: string): Promise<AlertDto> {
    return this.dataSource.transaction(async (m) => {
      const alert = await this.find(m, id);
      await m.delete(AlertSilence, { ruleId: alert.ruleId, subject: alert.subject });
      return (await this.present(m, [alert]))[0];
    });
  }

  private async find(m: EntityManager, id: string, lock = false): Promise<Alert> {
    const alert = await m.findOne(Alert, {
      where: { id },
      ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
    if (!alert) throw AppException.notFound('Alert');
    return alert;
  }

  /** Adds each alert's rule fields and active silence. */
  private async present(m: EntityManager, alerts: Alert[]): Promise<AlertDto[]> {
    if (alerts.length === 0) return [];
    const ruleIds = [...new Set(alerts.map((a) => a.ruleId))];
    const rules = new Map((await m.findBy(AlertRule, { id: In(ruleIds) })).map((rule) => [rule.id, rule]));
    const silences = await m.findBy(AlertSilence, { ruleId: In(ruleIds), until: MoreThan(new Date()) });
    const untilOf = (alert: Alert) =>
      silences.find((s) => s.ruleId === alert.ruleId && s.subject === alert.subject)?.until ?? null;
    return alerts.map((alert) => AlertDto.from(alert, rules.get(alert.ruleId)!, untilOf(alert)));
  }
}
