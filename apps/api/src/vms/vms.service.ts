import { HttpStatus, Injectable } from '@nestjs/common';
import { diskVolumeName, DomainStats } from '@limen/libvirt';
import { HostPorts } from '../hosts/host-ports';
import { HostPlacement } from '../hosts/host-placement';
import { randomUUID } from 'node:crypto';
import { AuthUser } from '../auth/decorators';
import { AppException, ErrorCode } from '../common/problem';
import { Tx } from '../database/transaction';
import { NewEvent } from '../events/events.service';
import { IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { versionTagOf } from '../idempotency/resource-response';
import { Image } from '../images/image.entity';
import { ImagesService } from '../images/images.service';
import { PortForwardAllocator } from '../networks/port-forward-allocator';
import { VmNetworking } from '../networks/vm-networking';
import { OperationDto } from '../operations/dto/operation.dto';
import { Operation } from '../operations/operation.entity';
import { OperationsService } from '../operations/operations.service';
import { CloudInitParams } from '../operations/operation-kinds';
import { QuotaLedger } from '../quotas/quota-ledger';
import { SshKeysService } from '../ssh-keys/ssh-keys.service';
import { newVmDisk } from '../disks/vm-disk-fields';
import { VmDiskRepository } from '../disks/vm-disk.repository';
import { CreateVmDto } from './dto/create-vm.dto';
import { ListVmsQueryDto } from './dto/list-vms-query.dto';
import { UpdateVmDto } from './dto/update-vm.dto';
import { MediaDto, VmActionDto } from './dto/vm-action.dto';
import { VmAcceptedDto, VmDto } from './dto/vm.dto';
import { Vm } from './vm.entity';
import { VmRepository } from './vm.repository';
import { assertActionAllowed, DESIRED_BY_ACTION, TRANSITIONAL_STATES } from './vm-state';
import { vmStateEvent, VmStateWriter } from './vm-state-writer';
import { VmAccess } from './vm-access';

export interface VmStatsSample {
  cpuPercent: number;
  memory: { currentMiB: number; maxMiB: number; availableMiB: number | null; rssMiB: number | null };
  disk: { readBytesPerSec: number; writeBytesPerSec: number };
  network: { rxBytesPerSec: number; txBytesPerSec: number };
  sampledOverMs: number;
}

const STATS_WINDOW_MS = 500;
const GIB = 1024 ** 3;

/** The row a create writes for `dto` (its id aside): provisioning, version 1. */
export function newVmFields(
  dto: CreateVmDto,
  image: Image,
  ownerId: string,
  hostId: string | null,
): Omit<Vm, 'id' | 'createdAt' | 'updatedAt'> {
  return {
    ownerId,
    hostId,
    name: dto.name,
    description: dto.description ?? '',
    vcpus: dto.vcpus,
    memoryMiB: dto.memoryMiB,
    runningVcpus: null,
    runningMemoryMiB: null,
    diskGiB: dto.diskGiB,
    imageId: image.id,
    // An ISO VM starts with its install media in the drive.
    mediaImageId: image.kind === 'iso' ? image.id : null,
    bootOrder: image.kind === 'iso' ? ['cdrom', 'hd'] : ['hd'],
    state: 'provisioning',
    stateReason: null,
    addresses: [],
    guestAgent: 'absent',
    os: null,
    // A VM created stopped is not one its owner wants brought back by default.
    autostart: dto.autostart ?? dto.start ?? true,
    desiredState: (dto.start ?? true) ? 'running' : 'stopped',
    startAttempts: 0,
    nextStartAt: null,
    lastStartError: null,
    version: 1,
  };
}

/** What a create's seed carries: `cloudInit` as given, its inline keys and those of `sshKeyIds` (once each); null: no seed. */
export function cloudInitParams(dto: CreateVmDto, keys: readonly string[]): CloudInitParams | null {
  if (!dto.cloudInit && !keys.length) return null;
  const { hostname, userData, sshAuthorizedKeys = [] } = dto.cloudInit ?? {};
  const merged = [...new Set([...sshAuthorizedKeys, ...keys])];
  return {
    ...(hostname !== undefined ? { hostname } : {}),
    ...(userData !== undefined ? { userData } : {}),
    ...(merged.length ? { sshAuthorizedKeys: merged } : {}),
  };
}

/**
 * What a VM request answers: the VM with the operation carrying the work out, or the VM alone when
 * none was needed. Rendered here, not in the controller: the idempotency record keeps it, in the
 * transaction of the work.
 */
function answer(vm: Vm, op: Operation): VmAcceptedDto;
function answer(vm: Vm, op: Operation | null): VmAcceptedDto | VmDto;
function answer(vm: Vm, op: Operation | null): VmAcceptedDto | VmDto {
  return op ? { vm: VmDto.from(vm), operation: OperationDto.from(op) } : VmDto.from(vm);
}

/**
 * The rules of VMs: quota, ownership, the state machine, one operation at a
 * time. Everything that touches the hypervisor is written down as an operation
 * in the same transaction, and runs after commit (see VmOperations).
 */
@Injectable()
export class VmsService {
  constructor(
    private readonly vms: VmRepository,
    private readonly stateWriter: VmStateWriter,
    private readonly hostPorts: HostPorts,
    private readonly hosts: HostPlacement,
    private readonly store: VmAccess,
    private readonly ledger: QuotaLedger,
    private readonly images: ImagesService,
    private readonly operations: OperationsService,
    private readonly sshKeys: SshKeysService,
    private readonly networking: VmNetworking,
    private readonly forwards: PortForwardAllocator,
    private readonly disks: VmDiskRepository,
  ) {}

  /** The page of the VMs `user` may see (admins: everyone's, or one owner's) as its JSON body (see VmRepository.pageJson). */
  listJson(user: AuthUser, query: ListVmsQueryDto): Promise<string> {
    const ownerId = user.role !== 'admin' ? user.id : query.ownerId;
    return this.vms.pageJson({
      ownerId,
      state: query.state,
      name: query.name,
      cursor: query.cursor,
      limit: query.limit,
    });
  }

  get(user: AuthUser, id: string): Promise<Vm> {
    return this.store.visible(user, id);
  }

  async create(user: AuthUser, dto: CreateVmDto, idem?: IdempotentRequest): Promise<VmAcceptedDto> {
    const image = await this.images.usable(user, dto.imageId, ['iso', 'disk', 'kernel'], 'imageId');
    for (const field of ['cloudInit', 'sshKeyIds'] as const) {
      if (dto[field] && image.kind !== 'disk') {
        throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, `${field} needs a disk image`, {
          errors: [{ field, messages: [`${field} is only supported with disk images`] }],
        });
      }
    }
    if (dto.hostId && user.role !== 'admin') {
      throw new AppException(HttpStatus.FORBIDDEN, ErrorCode.FORBIDDEN, 'Only admins choose the host of a VM');
    }
    // The disk covering a disk image is never smaller than the image: that is what it holds, and is
    // charged.
    const imageBytes = image.kind === 'disk' ? await this.images.virtualSizeOf(image) : 0;
    const bootGiB = Math.max(dto.diskGiB, Math.ceil(imageBytes / GIB));
    const dataDisks = dto.disks ?? [];
    // Every disk is charged: the VM's diskGiB is their sum.
    const diskGiB = dataDisks.reduce((total, disk) => total + disk.sizeGiB, bootGiB);
    return this.accept(user, idem, async (tx) => {
      // Read now and stored in the operation: a key deleted later does not change a re-run.
      const keys = await this.sshKeys.publicKeysOf(user, dto.sshKeyIds ?? [], tx);
      await this.ledger.reserve(tx, user.id, { vms: 1, vcpus: dto.vcpus, memoryMiB: dto.memoryMiB, diskGiB });
      const request = { vcpus: dto.vcpus, memoryMiB: dto.memoryMiB, diskBytes: diskGiB * GIB };
      const hostId = await this.hosts.place(tx, request, dto.hostId);
      await this.hosts.assertStorageRoom(hostId, request.diskBytes);
      const vm = Object.assign(new Vm(), {
        id: randomUUID(),
        ...newVmFields({ ...dto, diskGiB }, image, user.id, hostId),
      });
      // The (owner, name) key: skipped rather than caught, so the transaction stays usable without
      // a savepoint (see OperationsService.create). RETURNING fills in the timestamps.
      if (!(await this.vms.insertIfNameFree(tx, vm))) {
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, `You already have a VM named ${dto.name}`);
      }
      // The boot disk, then the data disks: VmOperations.create makes their volumes in the host's VM pool.
      const disks = [{ sizeGiB: bootGiB, bootIndex: 1 }, ...dataDisks];
      for (const [position, disk] of disks.entries())
        await this.disks.add(
          tx,
          newVmDisk({ vmId: vm.id, position, ...disk }, (diskId) => diskVolumeName(vm.id, diskId)),
        );
      const nics = await this.networking.attachAtCreate(tx, user, vm.id, dto.nics);
      await this.forwards.allocateAtCreate(tx, vm, nics, dto.nics);
      const op = await this.operations.create(tx, {
        kind: 'vm.create',
        ownerId: user.id,
        vmId: vm.id,
        params: { start: dto.start ?? true, cloudInit: cloudInitParams(dto, keys) },
      });
      return {
        vm,
        op,
        events: [
          {
            type: 'vm.created',
            ownerId: user.id,
            vmId: vm.id,
            payload: VmDto.from(vm),
          },
        ],
      };
    });
  }

  async action(user: AuthUser, id: string, dto: VmActionDto, idem?: IdempotentRequest): Promise<VmAcceptedDto> {
    return this.accept(user, idem, async (tx) => {
      const vm = await this.store.visible(user, id, tx, true);
      assertActionAllowed(dto.action, vm.state);
      const op = await this.operations.create(tx, {
        kind: `vm.${dto.action}`,
        ownerId: vm.ownerId,
        vmId: vm.id,
        params: { timeoutSeconds: dto.timeoutSeconds ?? 60, force: dto.force ?? false },
      });
      // The owner's word, recorded with the request: the autostart sweep follows it from now on.
      const desired = DESIRED_BY_ACTION[dto.action];
      return { vm: (desired && (await this.vms.writeDesiredState(vm.id, desired, tx))) || vm, op };
    });
  }

  async remove(user: AuthUser, id: string, idem?: IdempotentRequest): Promise<VmAcceptedDto> {
    return this.accept(user, idem, async (tx) => {
      const vm = await this.store.visible(user, id, tx, true);
      // A VM already `deleting` may be deleted again: a delete that failed half-way (libvirtd gone
      // mid-delete) leaves it so, and nothing else would ever finish it or free its quota. While a
      // delete still runs, the one-active-operation index refuses this one (409 OPERATION_IN_PROGRESS).
      const op = await this.operations.create(tx, { kind: 'vm.delete', ownerId: vm.ownerId, vmId: vm.id });
      const deleting = await this.stateWriter.setIn(tx, vm.id, { state: 'deleting' });
      return { vm: deleting.vm, op, events: [deleting.event] };
    });
  }

  /**
   * Description and autostart apply at once (200). vCPU, memory and boot order changes are
   * quota- and capacity-checked like a create, saved, and applied by an operation to the
   * definition the next boot uses (202). A running VM keeps what it booted with until it stops
   * (within that, vCPUs and memory change live where the hypervisor can; the operation's result
   * says), and holds the larger of the two meanwhile (QuotaLedger.reserveResize).
   */
  async update(
    user: AuthUser,
    id: string,
    dto: UpdateVmDto,
    ifMatch: string | undefined,
  ): Promise<VmAcceptedDto | VmDto> {
    return this.operations.accept(user.id, undefined, async (tx) => {
      const vm = await this.store.visible(user, id, tx, true);
      if (ifMatch !== undefined && ifMatch !== versionTagOf(vm) && ifMatch !== '*') {
        throw new AppException(
          HttpStatus.PRECONDITION_FAILED,
          ErrorCode.PRECONDITION_FAILED,
          `The VM changed (now ${versionTagOf(vm)}); re-read it and retry`,
        );
      }
      const hypervisorChange =
        (dto.vcpus !== undefined && dto.vcpus !== vm.vcpus) ||
        (dto.memoryMiB !== undefined && dto.memoryMiB !== vm.memoryMiB) ||
        (dto.bootOrder !== undefined && JSON.stringify(dto.bootOrder) !== JSON.stringify(vm.bootOrder));
      if (hypervisorChange && TRANSITIONAL_STATES.includes(vm.state)) {
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.OPERATION_IN_PROGRESS, `The VM is ${vm.state}`);
      }
      const growth = await this.ledger.reserveResize(tx, vm, {
        vcpus: dto.vcpus ?? vm.vcpus,
        memoryMiB: dto.memoryMiB ?? vm.memoryMiB,
      });
      await this.hosts.assertRoomToGrow(tx, vm.hostId, growth);
      const op = hypervisorChange
        ? await this.operations.create(tx, {
            kind: 'vm.update',
            ownerId: vm.ownerId,
            vmId: vm.id,
            params: { vcpus: dto.vcpus ?? null, memoryMiB: dto.memoryMiB ?? null, bootOrder: dto.bootOrder ?? null },
          })
        : null;
      const updated = await this.vms.update(
        vm.id,
        {
          vcpus: dto.vcpus,
          memoryMiB: dto.memoryMiB,
          description: dto.description,
          bootOrder: dto.bootOrder,
          autostart: dto.autostart,
        },
        tx,
      );
      return { op, events: [vmStateEvent(updated, 'vm.updated')], result: answer(updated, op) };
    });
  }

  async insertMedia(user: AuthUser, id: string, dto: MediaDto, idem?: IdempotentRequest): Promise<VmAcceptedDto> {
    await this.store.visible(user, id); // someone else's VM is 404 before anything about the body is said
    const iso = await this.images.usable(user, dto.imageId, ['iso'], 'imageId');
    return this.accept(user, idem, async (tx) => {
      const vm = await this.store.visible(user, id, tx, true);
      this.assertNotBusy(vm);
      const op = await this.operations.create(tx, {
        kind: 'vm.media.insert',
        ownerId: vm.ownerId,
        vmId: vm.id,
        params: { imageId: iso.id },
      });
      return { vm, op };
    });
  }

  async ejectMedia(user: AuthUser, id: string, idem?: IdempotentRequest): Promise<VmAcceptedDto> {
    return this.accept(user, idem, async (tx) => {
      const vm = await this.store.visible(user, id, tx, true);
      this.assertNotBusy(vm);
      const op = await this.operations.create(tx, {
        kind: 'vm.media.eject',
        ownerId: vm.ownerId,
        vmId: vm.id,
      });
      return { vm, op };
    });
  }

  async serial(user: AuthUser, id: string, bytes: number): Promise<string> {
    const vm = await this.store.visible(user, id);
    this.assertNotBusy(vm);
    return this.hostPorts.forVm(vm).tailSerialLog(vm.id, bytes);
  }

  async screenshot(user: AuthUser, id: string): Promise<Buffer> {
    const vm = await this.store.visible(user, id);
    this.assertRunning(vm);
    return this.hostPorts.forVm(vm).screenshot(vm.id);
  }

  /** Rates come from two samples taken STATS_WINDOW_MS apart. */
  async stats(user: AuthUser, id: string): Promise<VmStatsSample> {
    const vm = await this.store.visible(user, id);
    this.assertRunning(vm);
    const port = this.hostPorts.forVm(vm);
    const first = await port.getStats(vm.id);
    await new Promise((r) => setTimeout(r, STATS_WINDOW_MS));
    const second = await port.getStats(vm.id);
    const seconds = (second.collectedAt.getTime() - first.collectedAt.getTime()) / 1000 || STATS_WINDOW_MS / 1000;
    const perSecond = (counter: (stats: DomainStats) => number) =>
      Math.max(0, (counter(second) - counter(first)) / seconds);
    const total = <T>(items: T[], pick: (item: T) => number) => items.reduce((sum, item) => sum + pick(item), 0);
    const mib = (kib: number | undefined) => (kib === undefined ? null : Math.round(kib / 1024));
    return {
      cpuPercent:
        Math.round(
          (Math.max(0, second.cpuTimeNs - first.cpuTimeNs) / (seconds * 1e9) / Math.max(1, second.vcpus)) * 1000,
        ) / 10,
      memory: {
        currentMiB: mib(second.memory.currentKiB)!,
        maxMiB: mib(second.memory.maxKiB)!,
        availableMiB: mib(second.memory.availableKiB),
        rssMiB: mib(second.memory.rssKiB),
      },
      disk: {
        readBytesPerSec: perSecond((st) => total(st.block, (b) => b.readBytes)),
        writeBytesPerSec: perSecond((st) => total(st.block, (b) => b.writeBytes)),
      },
      network: {
        rxBytesPerSec: perSecond((st) => total(st.net, (n) => n.rxBytes)),
        txBytesPerSec: perSecond((st) => total(st.net, (n) => n.txBytes)),
      },
      sampledOverMs: Math.round(seconds * 1000),
    };
  }

  /** Work on a VM that an operation carries out: answers `{vm, operation}`. */
  private accept(
    user: AuthUser,
    idem: IdempotentRequest | undefined,
    work: (tx: Tx) => Promise<{ vm: Vm; op: Operation; events?: NewEvent[] }>,
  ): Promise<VmAcceptedDto> {
    return this.operations.accept(user.id, idem, async (tx) => {
      const { vm, op, events } = await work(tx);
      return { op, events, result: answer(vm, op) };
    });
  }

  private assertNotBusy(vm: Vm): void {
    if (TRANSITIONAL_STATES.includes(vm.state))
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The VM is ${vm.state}`);
  }

  private assertRunning(vm: Vm): void {
    if (vm.state !== 'running')
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The VM is ${vm.state}, not running`);
  }
}
