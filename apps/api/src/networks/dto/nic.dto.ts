import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsString, IsUUID, Matches } from 'class-validator';
import type { NicModel } from '@limen/libvirt';
import { IsOptionalNotNull } from '../../common/validation';
import { OperationDto } from '../../operations/dto/operation.dto';
import { VmAddress } from '../../vms/vm.entity';
import { VmNic } from '../vm-nic.entity';
import { PortForwardDto } from './port-forward.dto';

export const NIC_MODELS: readonly NicModel[] = ['virtio', 'e1000e', 'rtl8139'];
/** At most this many NICs per VM. */
export const MAX_NICS = 8;
/** Six hex octets, the first one even (unicast). */
const UNICAST_MAC = /^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){5}$/;

/** A NIC to add: at create (`nics`) or to an existing VM. */
export class CreateNicDto {
  /** A network from GET /api/v1/networks. */
  @IsUUID()
  networkId: string;

  /**
   * Unicast, `xx:xx:xx:xx:xx:xx`, unique across the installation (409 MAC_IN_USE otherwise).
   * Default: a random locally administered address.
   * @example "52:54:00:12:34:56"
   */
  @IsOptionalNotNull()
  @IsString()
  @Matches(UNICAST_MAC, { message: 'mac must be a unicast MAC address like 52:54:00:12:34:56' })
  mac?: string;

  @ApiPropertyOptional({ enum: NIC_MODELS, default: 'virtio' })
  @IsOptionalNotNull()
  @IsIn(NIC_MODELS)
  model?: NicModel;
}

/** One address of a VM, as `source` reported it. */
export class VmAddressDto {
  @ApiProperty({ format: 'uuid' })
  nicId: string;

  @ApiProperty({ example: '52:54:00:12:34:56' })
  mac: string;

  @ApiProperty({ example: '10.77.0.23' })
  ip: string;

  @ApiProperty({ type: 'integer', example: 24 })
  prefix: number;

  @ApiProperty({ enum: ['ipv4', 'ipv6'], example: 'ipv4' })
  family: 'ipv4' | 'ipv6';

  @ApiProperty({ enum: ['lease', 'agent', 'arp', 'user-mode'], example: 'lease' })
  source: VmAddress['source'];
}

export class NicDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uuid' })
  networkId: string;

  @ApiProperty({ example: '52:54:00:12:34:56' })
  mac: string;

  @ApiProperty({ enum: NIC_MODELS, example: 'virtio' })
  model: NicModel;

  /** What the VM last reported for this NIC. */
  @ApiProperty({ type: [VmAddressDto] })
  addresses: VmAddressDto[];

  /** user-mode NICs: the host ports forwarded to the guest. */
  @ApiProperty({ type: [PortForwardDto] })
  portForwards: PortForwardDto[];

  static from(nic: VmNic, addresses: VmAddress[] = [], portForwards: PortForwardDto[] = []): NicDto {
    return {
      id: nic.id,
      networkId: nic.networkId,
      mac: nic.mac,
      model: nic.model,
      addresses: addresses.filter((a) => a.nicId === nic.id),
      portForwards: portForwards.filter((f) => f.nicId === nic.id),
    };
  }
}

export class NicListDto {
  @ApiProperty({ type: [NicDto] })
  items: NicDto[];
}

/** 202 body of a NIC add or remove. */
export class NicAcceptedDto {
  @ApiProperty({ type: NicDto })
  nic: NicDto;

  @ApiProperty({ type: OperationDto })
  operation: OperationDto;
}
