import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsInt, IsNumber, IsString, Matches, Max, Min } from 'class-validator';
import { IsOptionalNotNull } from '../../common/validation';
import { ALERT_METRICS, AlertMetric, Comparator, COMPARATORS, SEVERITIES, Severity } from '../alert-metrics';
import { AlertRule } from '../alert-rule.entity';

/** Printable, single-line, 1-100 characters. */
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
export const DISPLAY_NAME = /^[^\x00-\x1f\x7f]{1,100}$/;
const MAX_FOR_SECONDS = 7 * 86400;

export class CreateAlertRuleDto {
  /**
   * Unique, case-insensitively.
   * @example "Root disk almost full"
   */
  @IsString()
  @Matches(DISPLAY_NAME, { message: 'name must be 1-100 printable characters' })
  name: string;

  @ApiProperty({ enum: ALERT_METRICS, example: 'host.disk.percent' })
  @IsIn(ALERT_METRICS)
  metric: AlertMetric;

  @ApiProperty({ enum: COMPARATORS, example: '>=' })
  @IsIn(COMPARATORS)
  comparator: Comparator;

  /** @example 85 */
  @IsNumber({ allowNaN: false, allowInfinity: false })
  threshold: number;

  /** Seconds the condition must hold before the alert fires (0: at the first evaluation that sees it). */
  @ApiPropertyOptional({ type: 'integer', default: 0, minimum: 0, maximum: MAX_FOR_SECONDS, example: 300 })
  @IsOptionalNotNull()
  @IsInt()
  @Min(0)
  @Max(MAX_FOR_SECONDS)
  for?: number;

  @ApiPropertyOptional({ enum: SEVERITIES, default: 'warning' })
  @IsOptionalNotNull()
  @IsIn(SEVERITIES)
  severity?: Severity;

  @ApiPropertyOptional({ default: true })
  @IsOptionalNotNull()
  @IsBoolean()
  enabled?: boolean;
}

/** Any subset of a rule's fields. Open alerts are re-evaluated against the new rule at the next evaluation. */
export class UpdateAlertRuleDto {
  /** @example "Root disk almost full" */
  @IsOptionalNotNull()
  @IsString()
  @Matches(DISPLAY_NAME, { message: 'name must be 1-100 printable characters' })
  name?: string;

  @ApiPropertyOptional({ enum: ALERT_METRICS })
  @IsOptionalNotNull()
  @IsIn(ALERT_METRICS)
  metric?: AlertMetric;

  @ApiPropertyOptional({ enum: COMPARATORS })
  @IsOptionalNotNull()
  @IsIn(COMPARATORS)
  comparator?: Comparator;

  /** @example 90 */
  @IsOptionalNotNull()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  threshold?: number;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: MAX_FOR_SECONDS })
  @IsOptionalNotNull()
  @IsInt()
  @Min(0)
  @Max(MAX_FOR_SECONDS)
  for?: number;

  @ApiPropertyOptional({ enum: SEVERITIES })
  @IsOptionalNotNull()
  @IsIn(SEVERITIES)
  severity?: Severity;

  /** A disabled rule is not evaluated; its open alerts resolve at the next evaluation. */
  @IsOptionalNotNull()
  @IsBoolean()
  enabled?: boolean;
}

export class AlertRuleDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'Disk usage high' })
  name: string;

  @ApiProperty({ enum: ALERT_METRICS, example: 'host.disk.percent' })
  metric: AlertMetric;

  @ApiProperty({ enum: COMPARATORS, example: '>=' })
  comparator: Comparator;

  @ApiProperty({ example: 85 })
  threshold: number;

  @ApiProperty({ type: 'integer', description: 'Seconds the condition must hold before firing', example: 300 })
  for: number;

  @ApiProperty({ enum: SEVERITIES, example: 'warning' })
  severity: Severity;

  @ApiProperty({ example: true })
  enabled: boolean;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  updatedAt: string;

  static from(rule: AlertRule): AlertRuleDto {
    return {
      id: rule.id,
      name: rule.name,
      metric: rule.metric,
      comparator: rule.comparator,
      threshold: rule.threshold,
      for: rule.forSeconds,
      severity: rule.severity,
      enabled: rule.enabled,
      createdAt: rule.createdAt.toISOString(),
      updatedAt: rule.updatedAt.toISOString(),
    };
  }
}

export class AlertRulePageDto {
  @ApiProperty({ type: [AlertRuleDto] })
  items: AlertRuleDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}
