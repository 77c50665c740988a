import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsISO8601, IsOptional, IsUUID, Matches } from 'class-validator';
import { PageQueryDto } from '../../common/page-query.dto';
import { AuditEntry } from '../audit-entry.entity';

export class AuditQueryDto extends PageQueryDto {
  @IsOptional()
  @IsUUID()
  actorId?: string;

  /** @example "vms.create" */
  @IsOptional()
  @Matches(/^[a-z][a-z0-9.-]{0,63}$/)
  action?: string;

  @IsOptional()
  @Matches(/^[A-Za-z0-9-]{1,64}$/)
  targetId?: string;

  /** Inclusive lower bound (ISO 8601). */
  @ApiPropertyOptional({ example: '2026-11-26T00:00:00Z' })
  @IsOptional()
  @IsISO8601()
  from?: string;

  /** Exclusive upper bound (ISO 8601). */
  @ApiPropertyOptional({ example: '2026-11-27T00:00:00Z' })
  @IsOptional()
  @IsISO8601()
  to?: string;
}

export class AuditEntryDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  at: string;

  @ApiProperty({ type: String, nullable: true, format: 'uuid' })
  actorId: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'alice' })
  actorUsername: string | null;

  @ApiProperty({ example: 'vms.action' })
  action: string;

  @ApiProperty({ type: String, nullable: true, example: 'vm' })
  targetType: string | null;

  @ApiProperty({ type: String, nullable: true })
  targetId: string | null;

  @ApiProperty({ enum: ['success', 'failure'] })
  result: 'success' | 'failure';

  @ApiProperty({ type: 'integer', nullable: true, example: 202 })
  statusCode: number | null;

  @ApiProperty({ type: String, nullable: true, example: null })
  errorCode: string | null;

  @ApiProperty({ type: String, nullable: true })
  requestId: string | null;

  @ApiProperty({ type: String, nullable: true, example: '127.0.0.1' })
  ip: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'curl/8.0' })
  userAgent: string | null;

  @ApiProperty({ type: Object, nullable: true })
  before: Record<string, unknown> | null;

  @ApiProperty({ type: Object, nullable: true })
  after: Record<string, unknown> | null;

  @ApiProperty({ type: Object, nullable: true, example: { action: 'start' } })
  details: Record<string, unknown> | null;

  static from(e: AuditEntry): AuditEntryDto {
    return {
      id: e.id,
      at: e.createdAt.toISOString(),
      actorId: e.actorId,
      actorUsername: e.actorUsername,
      action: e.action,
      targetType: e.targetType,
      targetId: e.targetId,
      result: e.result,
      statusCode: e.statusCode,
      errorCode: e.errorCode,
      requestId: e.requestId,
      ip: e.ip,
      userAgent: e.userAgent,
      before: e.before,
      after: e.after,
      details: e.details,
    };
  }
}

export class AuditPageDto {
  @ApiProperty({ type: [AuditEntryDto] })
  items: AuditEntryDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}
