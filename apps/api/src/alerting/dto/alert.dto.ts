import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsDateString, IsIn, IsInt, IsOptional, Max, Min, ValidateIf } from 'class-validator';
import { PageQueryDto } from '../../common/page-query.dto';
import {
  ALERT_METRICS,
  ALERT_STATES,
  AlertMetric,
  AlertState,
  Comparator,
  COMPARATORS,
  SEVERITIES,
  Severity,
} from '../alert-metrics';
import { Alert } from '../alert.entity';
import { AlertRule } from '../alert-rule.entity';

export class ListAlertsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: ALERT_STATES })
  @IsOptional()
  @IsIn(ALERT_STATES)
  state?: AlertState;
}

export const MAX_SILENCE_MINUTES = 90 * 24 * 60;

/** Exactly one of `until` and `forMinutes`. */
export class SilenceAlertDto {
  /**
   * Until when notifications for this alert's rule and subject are held back: in the future, at most
   * 90 days ahead (ISO 8601). A fixed time goes stale; `forMinutes` says the same relative to now.
   */
  @ApiPropertyOptional({ format: 'date-time' })
  @ValidateIf((dto: SilenceAlertDto) => dto.until !== undefined || dto.forMinutes === undefined)
  @IsDateString({ strict: true })
  until?: string;

  /**
   * How long, from now, to hold notifications back: 1 minute to 90 days.
   * @example 120
   */
  @ValidateIf((dto: SilenceAlertDto) => dto.forMinutes !== undefined || dto.until === undefined)
  @IsInt()
  @Min(1)
  @Max(MAX_SILENCE_MINUTES)
  forMinutes?: number;
}

/** One alert instance, with the rule fields it was raised under. */
export class AlertDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uuid' })
  ruleId: string;

  @ApiProperty({ example: 'Disk usage high' })
  ruleName: string;

  @ApiProperty({ enum: ALERT_METRICS, example: 'host.disk.percent' })
  metric: AlertMetric;

  @ApiProperty({ enum: COMPARATORS, example: '>=' })
  comparator: Comparator;

  @ApiProperty({ example: 85 })
  threshold: number;

  @ApiProperty({ enum: SEVERITIES, example: 'warning' })
  severity: Severity;

  @ApiProperty({
    type: String,
    nullable: true,
    example: '/var/lib/limen',
    description: 'The mount, VM id or user id; null for host-wide metrics',
  })
  subject: string | null;

  @ApiProperty({ enum: ALERT_STATES, example: 'firing' })
  state: AlertState;

  @ApiProperty({ example: 91.3, description: 'The latest observed value (the last breaching one once resolved)' })
  value: number;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z', description: 'Since when the condition has held' })
  pendingSince: string;

  @ApiProperty({ type: String, nullable: true, example: '2026-11-26T08:05:00.000Z' })
  firedAt: string | null;

  @ApiProperty({ type: String, nullable: true, example: null })
  resolvedAt: string | null;

  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    example: null,
    description: 'The admin who acknowledged it',
  })
  ackedBy: string | null;

  @ApiProperty({ type: String, nullable: true, example: null })
  ackedAt: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: null,
    description: 'Notifications for this rule and subject are held back until then',
  })
  silencedUntil: string | null;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  createdAt: string;

  static from(alert: Alert, rule: AlertRule, silencedUntil: Date | null): AlertDto {
    return {
      id: alert.id,
      ruleId: alert.ruleId,
      ruleName: rule.name,
      metric: rule.metric,
      comparator: rule.comparator,
      threshold: rule.threshold,
      severity: rule.severity,
      subject: alert.subject === '' ? null : alert.subject,
      state: alert.state,
      value: alert.value,
      pendingSince: alert.pendingSince.toISOString(),
      firedAt: alert.firedAt?.toISOString() ?? null,
      resolvedAt: alert.resolvedAt?.toISOString() ?? null,
      ackedBy: alert.ackedBy,
      ackedAt: alert.ackedAt?.toISOString() ?? null,
      silencedUntil: silencedUntil && silencedUntil.getTime() > Date.now() ? silencedUntil.toISOString() : null,
      createdAt: alert.createdAt.toISOString(),
    };
  }
}

export class AlertPageDto {
  @ApiProperty({ type: [AlertDto] })
  items: AlertDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}
