import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { IsOptionalNotNull } from '../../common/validation';
import { Schedule, SCHEDULE_KINDS, ScheduleKind } from '../schedule.entity';

const MAX_KEEP_LAST = 1000;
const MAX_KEEP_DAYS = 3650;
/** What cron fields are made of (digits, names, * ? , - / L #); anything else is refused before parsing. */
const CRON_SHAPE = /^[0-9A-Za-z*?,\-/#\t ]{1,128}$/;
const CRON_SHAPE_MESSAGE = 'cron must be 5 fields of digits, names and * ? , - / L #, up to 128 characters';

export class CreateScheduleDto {
  /** What it takes: an internal snapshot or a backup of the VM. */
  @ApiProperty({ enum: SCHEDULE_KINDS, example: 'snapshot' })
  @IsIn(SCHEDULE_KINDS)
  kind: ScheduleKind;

  /**
   * Five fields, minute hour day-of-month month day-of-week, read in `timeZone`. Refused when it
   * would fire more often than the server's minimum interval (SCHEDULE_MIN_INTERVAL_SECONDS).
   * @example "0 3 * * *"
   */
  @IsString()
  @Matches(CRON_SHAPE, { message: CRON_SHAPE_MESSAGE })
  cron: string;

  /**
   * An IANA time zone name.
   * @example "Europe/Berlin"
   */
  @ApiPropertyOptional({ default: 'UTC' })
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(64)
  timeZone?: string;

  /** Keep at most this many of the copies it made (null or absent: no count limit). */
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 1, maximum: MAX_KEEP_LAST, example: 7 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_KEEP_LAST)
  keepLast?: number | null;

  /** Delete its copies older than this many days (null or absent: no age limit). The newest good copy always stays. */
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 1, maximum: MAX_KEEP_DAYS, example: 30 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_KEEP_DAYS)
  keepDays?: number | null;

  @ApiPropertyOptional({ default: true })
  @IsOptionalNotNull()
  @IsBoolean()
  enabled?: boolean;
}

export class UpdateScheduleDto {
  /** @example "30 2 * * *" */
  @IsOptionalNotNull()
  @IsString()
  @Matches(CRON_SHAPE, { message: CRON_SHAPE_MESSAGE })
  cron?: string;

  /** @example "UTC" */
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(64)
  timeZone?: string;

  /** null removes the count limit. */
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 1, maximum: MAX_KEEP_LAST, example: 14 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_KEEP_LAST)
  keepLast?: number | null;

  /** null removes the age limit. */
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 1, maximum: MAX_KEEP_DAYS, example: 60 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_KEEP_DAYS)
  keepDays?: number | null;

  /** A schedule enabled again next runs at its next slot from now (missed slots are not made up). */
  @IsOptionalNotNull()
  @IsBoolean()
  enabled?: boolean;
}

export class ScheduleDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uuid' })
  vmId: string;

  /** The VM's owner: runs are made, and copies charged, as this user. */
  @ApiProperty({ format: 'uuid' })
  ownerId: string;

  @ApiProperty({ enum: SCHEDULE_KINDS, example: 'snapshot' })
  kind: ScheduleKind;

  @ApiProperty({ example: '0 3 * * *' })
  cron: string;

  @ApiProperty({ example: 'UTC' })
  timeZone: string;

  @ApiProperty({ type: 'integer', nullable: true, example: 7 })
  keepLast: number | null;

  @ApiProperty({ type: 'integer', nullable: true, example: null })
  keepDays: number | null;

  @ApiProperty({ example: true })
  enabled: boolean;

  /** The next slot; a run happens within SCHEDULE_TICK_SECONDS of it. */
  @ApiProperty({ example: '2026-12-08T03:00:00.000Z' })
  nextRunAt: string;

  @ApiProperty({ type: String, nullable: true, example: null })
  lastRunAt: string | null;

  /** The operation the last run started (its copy's snapshot.create or backup.create). */
  @ApiProperty({ type: String, format: 'uuid', nullable: true, example: null })
  lastOperationId: string | null;

  /** Why the last run could not start (the problem's code and detail); null when it did. */
  @ApiProperty({ type: String, nullable: true, example: null })
  lastError: string | null;

  /** Bumped by every change, including each run; send it back as If-Match. */
  @ApiProperty({ type: 'integer', example: 1 })
  version: number;

  @ApiProperty({ example: '2026-12-07T08:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ example: '2026-12-07T08:00:00.000Z' })
  updatedAt: string;

  static from(s: Schedule): ScheduleDto {
    return {
      id: s.id,
      vmId: s.vmId,
      ownerId: s.ownerId,
      kind: s.kind,
      cron: s.cron,
      timeZone: s.timeZone,
      keepLast: s.keepLast,
      keepDays: s.keepDays,
      enabled: s.enabled,
      nextRunAt: s.nextRunAt.toISOString(),
      lastRunAt: s.lastRunAt?.toISOString() ?? null,
      lastOperationId: s.lastOperationId,
      lastError: s.lastError,
      version: s.version,
      createdAt: s.createdAt.toISOString(),
      updatedAt: s.updatedAt.toISOString(),
    };
  }
}

export class SchedulePageDto {
  @ApiProperty({ type: [ScheduleDto] })
  items: ScheduleDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}
