import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, Max, Min, ValidateIf } from 'class-validator';

export class QuotaAmountsDto {
  @ApiProperty({ type: 'integer', example: 3 })
  vms: number;

  @ApiProperty({ type: 'integer', example: 8 })
  vcpus: number;

  @ApiProperty({ type: 'integer', example: 16384 })
  memoryMiB: number;

  /** Limits are whole GiB; usage counts disks and snapshots to the MiB, so it may be fractional. */
  @ApiProperty({ example: 100 })
  diskGiB: number;

  @ApiProperty({ type: 'integer', example: 10 })
  snapshots: number;

  /** Backups and templates in their stores (compressed bytes); usage may be fractional. */
  @ApiProperty({ example: 50 })
  backupGiB: number;
}

export class QuotaDto {
  @ApiProperty({ format: 'uuid' })
  userId: string;

  @ApiProperty({ type: QuotaAmountsDto })
  limits: QuotaAmountsDto;

  /**
   * Every VM that is not deleted counts, running or not. `diskGiB` is each VM's disk at its
   * virtual size plus each snapshot's size (the RAM state it saved, or what it grew the disk by),
   * to the MiB, so it may be fractional.
   */
  @ApiProperty({ type: QuotaAmountsDto })
  usage: QuotaAmountsDto;
}

function Limit(): PropertyDecorator {
  return (target, key) => {
    ApiPropertyOptional({
      type: 'integer',
      nullable: true,
      minimum: 0,
      description: 'null restores the configured default',
    })(target, key);
    IsOptional()(target, key);
    ValidateIf((_o, v) => v !== null)(target, key);
    IsInt()(target, key);
    Min(0)(target, key);
    Max(1_000_000_000)(target, key);
  };
}

/** Overrides; omitted fields stay as they are, null returns to the default. */
export class SetQuotaDto {
  @Limit()
  vms?: number | null;

  @Limit()
  vcpus?: number | null;

  @Limit()
  memoryMiB?: number | null;

  @Limit()
  diskGiB?: number | null;

  @Limit()
  snapshots?: number | null;

  @Limit()
  backupGiB?: number | null;
}
