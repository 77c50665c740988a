import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsString, IsUUID, Matches, MaxLength } from 'class-validator';
import { IsFreeText } from '../../common/free-text';
import { IsOptionalNotNull } from '../../common/validation';
import { VM_NAME } from './create-vm.dto';

export class CloneVmDto {
  /**
   * The clone's name, unique among your VMs, and its hostname: 1-63 of a-z 0-9 -, starting alphanumeric.
   * @example "web-1-copy"
   */
  @IsString()
  @Matches(VM_NAME, { message: 'name must be 1-63 characters of a-z 0-9 -, starting with a letter or digit' })
  name: string;

  /**
   * true: each disk is a copy-on-write overlay over a read-only base copy of the source disk
   * (deleted with the last clone disk over it); false: each disk a standalone copy.
   */
  @ApiPropertyOptional({ default: false })
  @IsOptionalNotNull()
  @IsBoolean()
  linked?: boolean;

  /**
   * Copy the disks as they were in this ready snapshot of the source VM (GET
   * /api/v1/vms/{id}/snapshots); the source may then be running. Without it the source must be stopped.
   */
  @IsOptionalNotNull()
  @IsUUID()
  snapshotId?: string;

  /** Start the clone once it is created. */
  @ApiPropertyOptional({ default: true })
  @IsOptionalNotNull()
  @IsBoolean()
  start?: boolean;

  /**
   * Free text, up to 1 KiB; no control characters other than tab and line breaks. Default: the source's.
   * @example "copy of web-1"
   */
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(1024)
  @IsFreeText()
  description?: string;
}
