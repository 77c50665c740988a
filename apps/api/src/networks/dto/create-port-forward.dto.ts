import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsUUID, Max, Min, ValidateNested } from 'class-validator';
import type { PortProtocol } from '@limen/libvirt';
import { IsOptionalNotNull } from '../../common/validation';
import { OperationDto } from '../../operations/dto/operation.dto';
import { CreateNicDto } from './nic.dto';
import { PortForwardDto } from './port-forward.dto';

export const PORT_PROTOCOLS: readonly PortProtocol[] = ['tcp', 'udp'];

/** A guest port to reach from the host: a host port is allocated for it (PORT_FORWARD_RANGE). */
export class NewPortForwardDto {
  /** @example 22 */
  @IsInt()
  @Min(1)
  @Max(65535)
  @ApiProperty({ type: 'integer' })
  guestPort: number;

  @ApiPropertyOptional({ enum: PORT_PROTOCOLS, default: 'tcp' })
  @IsOptionalNotNull()
  @IsIn(PORT_PROTOCOLS)
  protocol?: PortProtocol;
}

export class CreatePortForwardDto extends NewPortForwardDto {
  /** A user-mode NIC of the VM (GET /api/v1/vms/{id}/nics). Default: its first user-mode NIC. */
  @IsOptionalNotNull()
  @IsUUID()
  nicId?: string;
}

/** A NIC of a new VM (CreateVmDto.nics): a user-mode one may come with its port forwards. */
export class CreateVmNicDto extends CreateNicDto {
  /**
   * NICs on a user-mode network only: guest ports reachable from the start, each with a host port
   * allocated as by POST /api/v1/vms/{id}/port-forwards (see GET /api/v1/vms/{id}/port-forwards).
   * @example [{"guestPort": 22}]
   */
  @IsOptionalNotNull()
  @IsArray()
  @ArrayMaxSize(16)
  @ValidateNested({ each: true })
  @Type(() => NewPortForwardDto)
  portForwards?: NewPortForwardDto[];
}

export class PortForwardListDto {
  @ApiProperty({ type: [PortForwardDto] })
  items: PortForwardDto[];
}

/** 202 body of a port forward add or remove: the forward (its host port allocated already) and the operation. */
export class PortForwardAcceptedDto {
  @ApiProperty({ type: PortForwardDto })
  portForward: PortForwardDto;

  @ApiProperty({ type: OperationDto })
  operation: OperationDto;
}
