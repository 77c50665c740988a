import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsUUID, Matches, Max, Min } from 'class-validator';
import { PageQueryDto } from '../../common/page-query.dto';
import { VM_STATES, VmState } from '../vm-state';
import { VM_NAME } from './create-vm.dto';

export class ListVmsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: VM_STATES })
  @IsOptional()
  @IsIn(VM_STATES)
  state?: VmState;

  /** Exact name. */
  @IsOptional()
  @Matches(VM_NAME)
  name?: string;

  /** Admins only: one owner's VMs. */
  @IsOptional()
  @IsUUID()
  ownerId?: string;
}

export class SerialQueryDto {
  /** How many bytes from the end of the serial log, 1-1048576. */
  @ApiPropertyOptional({ type: 'integer', default: 65536, minimum: 1, maximum: 1048576 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1048576)
  bytes: number = 65536;
}
