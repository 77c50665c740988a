import { ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsBoolean,
  IsIn,
  IsInt,
  IsString,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { IsOptionalNotNull } from '../../common/validation';
import { IsFreeText } from '../../common/free-text';

export const BOOT_DEVICES = ['hd', 'cdrom', 'network'] as const;

export class UpdateVmDto {
  /** @example 2 */
  @IsOptionalNotNull()
  @IsInt()
  @Min(1)
  @Max(64)
  @ApiPropertyOptional({ type: 'integer' })
  vcpus?: number;

  /** @example 512 */
  @IsOptionalNotNull()
  @IsInt()
  @Min(64)
  @Max(1048576)
  @ApiPropertyOptional({ type: 'integer' })
  memoryMiB?: number;

  /** Free text, up to 1 KiB; no control characters other than tab and line breaks. */
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(1024)
  @IsFreeText()
  description?: string;

  /** Whether the reconcile sweep starts the VM again when it finds it down while wanted running (see VmDto.autostart). Applies at once. */
  @IsOptionalNotNull()
  @IsBoolean()
  autostart?: boolean;

  /** Firmware boot order, e.g. ["hd"] after an ISO install. Applies at the next boot. */
  @ApiPropertyOptional({ enum: BOOT_DEVICES, isArray: true, example: ['hd'] })
  @IsOptionalNotNull()
  @ArrayMinSize(1)
  @ArrayMaxSize(3)
  @ArrayUnique()
  @IsIn(BOOT_DEVICES, { each: true })
  bootOrder?: Array<(typeof BOOT_DEVICES)[number]>;
}
