import { ApiProperty } from '@nestjs/swagger';
import type { GuestAgentState } from '@limen/libvirt';
import { VmAddressDto } from '../../networks/dto/nic.dto';
import { OperationDto } from '../../operations/dto/operation.dto';
import { Vm } from '../vm.entity';
import { DESIRED_STATES, DesiredState, VM_STATES, VmState } from '../vm-state';
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

/**
 * What the reconcile sweep did about starting the VM again (see `autostart`). Every start it makes
 * is a `vm.autostart` operation; after a failed one it waits AUTOSTART_BACKOFF_SECONDS, doubling
 * per attempt up to an hour, and after AUTOSTART_MAX_ATTEMPTS in a row it stops trying (and says
 * so in `stateReason`) until you start the VM yourself.
 */
export class AutostartAttemptsDto {
  /**
   * Starts the sweep made in a row that did not keep the VM running: a start that failed, or one
   * after which the VM went down again before `nextAt`. Back to 0 once the VM has run past
   * `nextAt`, and whenever you start, stop or shut it down yourself.
   */
  @ApiProperty({ type: 'integer', example: 0 })
  count: number;

  /** The sweep starts the VM again no sooner than this; null when no attempt is pending. */
  @ApiProperty({ type: String, nullable: true, example: null })
  nextAt: string | null;

  /** Why the last attempt failed; null when it did not. */
  @ApiProperty({ type: String, nullable: true, example: null })
  lastError: string | null;
}

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

  /**
   * Started again by the reconcile sweep when its domain is found not running (after libvirtd or
   * the host restarted, or QEMU crashed) while `desiredState` is `running`. Set at create
   * (default: true when the VM is created running) and with PATCH.
   */
  @ApiProperty({ example: true })
  autostart: boolean;

  /**
   * What was last asked of the VM: `running` (create, `start`, `resume`) or `stopped` (create with
   * `start: false`, `stop`, `shutdown`, or a power-off from inside the guest). Read-only.
   */
  @ApiProperty({ enum: DESIRED_STATES, example: 'running' })
  desiredState: DesiredState;

  @ApiProperty({ type: AutostartAttemptsDto })
  autostartAttempts: AutostartAttemptsDto;

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
      autostart: vm.autostart,
      desiredState: vm.desiredState,
      autostartAttempts: {
        count: vm.startAttempts,
        nextAt: vm.nextStartAt?.toISOString() ?? null,
        lastError: vm.lastStartError,
      },
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
