import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches, MaxLength } from 'class-validator';
import { IsOptionalNotNull } from '../../common/validation';
import { OperationDto } from '../../operations/dto/operation.dto';
import { Snapshot, SNAPSHOT_STATES, SnapshotState } from '../snapshot.entity';
import { IsFreeText } from '../../common/free-text';

export class CreateSnapshotDto {
  /**
   * 1-64 of A-Z a-z 0-9 . _ -, starting alphanumeric; unique per VM.
   * @example "before-upgrade"
   */
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
    message: 'name must be 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit',
  })
  name: string;

  /**
   * Free text, up to 1 KiB; no control characters other than tab and line breaks.
   * @example "clean install"
   */
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(1024)
  @IsFreeText()
  description?: string;
}

export class SnapshotDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uuid' })
  vmId: string;

  @ApiProperty({ example: 'before-upgrade' })
  name: string;

  @ApiProperty({ example: 'clean install' })
  description: string;

  @ApiProperty({ enum: SNAPSHOT_STATES, example: 'ready' })
  state: SnapshotState;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  createdAt: string;

  static from(s: Snapshot): SnapshotDto {
    return {
      id: s.id,
      vmId: s.vmId,
      name: s.name,
      description: s.description,
      state: s.state,
      createdAt: s.createdAt.toISOString(),
    };
  }
}

export class SnapshotPageDto {
  @ApiProperty({ type: [SnapshotDto] })
  items: SnapshotDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}

export class SnapshotAcceptedDto {
  @ApiProperty({ type: SnapshotDto })
  snapshot: SnapshotDto;

  @ApiProperty({ type: OperationDto })
  operation: OperationDto;
}
