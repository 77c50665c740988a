import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsInt, IsUUID, Max, Min } from 'class-validator';
import { IsOptionalNotNull } from '../../common/validation';
import { VM_ACTIONS, VmAction } from '../vm-state';

export class VmActionDto {
  /** `shutdown` asks the guest (ACPI); `stop` powers off at once. */
  @ApiProperty({ enum: VM_ACTIONS, example: 'start' })
  @IsIn(VM_ACTIONS)
  action: VmAction;

  /** shutdown only: seconds to wait for the guest. */
  @ApiPropertyOptional({ type: 'integer', default: 60, minimum: 1, maximum: 3600 })
  @IsOptionalNotNull()
  @IsInt()
  @Min(1)
  @Max(3600)
  timeoutSeconds?: number;

  /** shutdown only: power off if the guest has not stopped by the timeout. */
  @ApiPropertyOptional({ default: false })
  @IsOptionalNotNull()
  @IsBoolean()
  force?: boolean;
}

export class MediaDto {
  /** An ISO image id. */
  @IsUUID()
  imageId: string;
}
