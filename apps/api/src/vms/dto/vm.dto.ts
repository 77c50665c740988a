import { ApiProperty } from '@nestjs/swagger';
import type { GuestAgentState } from '@limen/libvirt';
import { VmAddressDto } from '../../networks/dto/nic.dto';
import { OperationDto } from '../../operations/dto/operation.dto';
import { Vm } from '../vm.entity';
import { VM_STATES, VmState } from '../vm-state';
import { BOOT_DEVICES } from './update-vm.dto';

/** What the guest agent says of the guest's OS. */
export class GuestOsDto {
  @ApiProperty({ example: 'Debian GNU/Linux' })
  name: string;

  @ApiProperty({ example: '12 (bookworm)' })
  version: string;

  /** Kernel release. */
  @ApiProperty({ example: '6.1.0-28-cloud-amd64' })
  kernel: string;
}

export const GUEST_AGENT_STATES: readonly GuestAgentState[] = ['connected', 'disconnected', 'absent'];

export class VmDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'web-1' })
  name: string;

  @ApiProperty({ example: 'staging web server' })
  description: string;

  @ApiProperty({ format: 'uuid' })
  ownerId: string;

  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  hostId: string | null;

  @ApiProperty({ type: 'integer', example: 1 })
  vcpus: number;

  @ApiProperty({ type: 'integer', example: 256 })
  memoryMiB: number;

  @ApiProperty({ type: 'integer', example: 1 })
  diskGiB: number;

  @ApiProperty({ format: 'uuid' })
  imageId: string;

  /** ISO in the CD-ROM drive. */
  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  mediaImageId: string | null;

  @ApiProperty({ enum: BOOT_DEVICES, isArray: true, example: ['hd'] })
  bootOrder: string[];

  @ApiProperty({ enum: VM_STATES, example: 'running' })
  state: VmState;

  @ApiProperty({ type: String, nullable: true, example: null })
  stateReason: string | null;

  /**
   * The guest's addresses per NIC, as LIMEN last saw them (DHCP leases of LIMEN networks, the guest
   * agent, the host's ARP table); empty while the VM is not running. Kept current by the address
   * watcher: the `vm.addresses` event says when they change.
   */
  @ApiProperty({ type: [VmAddressDto] })
  addresses: VmAddressDto[];

  /** `connected`: the QEMU guest agent answers; `disconnected`: the VM has its channel but no agent answers; `absent`: no channel. */
  @ApiProperty({ enum: GUEST_AGENT_STATES, example: 'connected' })
  guestAgent: GuestAgentState;

  /** From the guest agent, once it has answered; null before. */
  @ApiProperty({ type: GuestOsDto, nullable: true })
  os: GuestOsDto | null;

  /** Also the ETag: `"<version>"`. */
  @ApiProperty({ type: 'integer', example: 3 })
  version: number;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  updatedAt: string;

  static from(vm: Vm): VmDto {
    return {
      id: vm.id,
      name: vm.name,
      description: vm.description,
      ownerId: vm.ownerId,
      hostId: vm.hostId,
      vcpus: vm.vcpus,
      memoryMiB: vm.memoryMiB,
      diskGiB: vm.diskGiB,
      imageId: vm.imageId,
      mediaImageId: vm.mediaImageId,
      bootOrder: vm.bootOrder,
      state: vm.state,
      stateReason: vm.stateReason,
      addresses: vm.addresses.map((a) => ({
        nicId: a.nicId,
        mac: a.mac,
        ip: a.ip,
        prefix: a.prefix,
        family: a.family,
        source: a.source,
      })),
      guestAgent: vm.guestAgent,
      os: vm.os ? { name: vm.os.name, version: vm.os.version, kernel: vm.os.kernel } : null,
      version: vm.version,
      createdAt: vm.createdAt.toISOString(),
      updatedAt: vm.updatedAt.toISOString(),
    };
  }
}

export class VmPageDto {
  @ApiProperty({ type: [VmDto] })
  items: VmDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}

/** 202 body of every request that starts hypervisor work. */
export class VmAcceptedDto {
  @ApiProperty({ type: VmDto })
  vm: VmDto;

  @ApiProperty({ type: OperationDto })
  operation: OperationDto;
}
