import { HttpStatus, Injectable } from '@nestjs/common';
import { diskVolumeName } from '@limen/libvirt';
import { AuthUser } from '../auth/decorators';
import { AppException, ErrorCode } from '../common/problem';
import { Tx } from '../database/transaction';
import { NewEvent } from '../events/events.service';
import { HostPlacement } from '../hosts/host-placement';
import { invalidField } from '../hosts/invalid-field';
import { IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { OperationDto } from '../operations/dto/operation.dto';
import { OperationParams } from '../operations/operation-kinds';
import { OperationsService } from '../operations/operations.service';
import { QuotaLedger } from '../quotas/quota-ledger';
import { Vm } from '../vms/vm.entity';
import { VmRepository } from '../vms/vm.repository';
import { VmAccess } from '../vms/vm-access';
import { vmStateEvent } from '../vms/vm-state-writer';
import { TRANSITIONAL_STATES, VmState } from '../vms/vm-state';
import { freeDiskPosition } from './disk-layout';
import { newVmDisk } from './vm-disk-fields';
import { CreateDiskDto, DiskAcceptedDto, DiskDto, MAX_DISKS, ResizeDiskDto } from './dto/disk.dto';
import { VmDisk } from './vm-disk.entity';
import { VmDiskRepository } from './vm-disk.repository';

const GIB = 1024 ** 3;

/** A VM in one of these cannot have disks added, removed or resized: an operation owns it, or its domain is not known. */
const UNUSABLE_STATES: readonly VmState[] = [...TRANSITIONAL_STATES, 'missing', 'error', 'unknown'];

type DiskKind = 'vm.disk.add' | 'vm.disk.remove' | 'vm.disk.resize';

/**
 * The rules of a VM's disks (1 to 16: the boot disk and data disks). Each change is checked and
 * written down in one transaction with its operation (see VmDiskOperations for the hypervisor
 * side): what it adds to the owner's disk quota is reserved there, through `vms.disk_gib`, which
 * always holds the sum of the VM's disks.
 */
@Injectable()
export class VmDisksService {
  constructor(
    private readonly disks: VmDiskRepository,
    private readonly access: VmAccess,
    private readonly vms: VmRepository,
    private readonly ledger: QuotaLedger,
    private readonly placement: HostPlacement,
    private readonly operations: OperationsService,
  ) {}

  async list(user: AuthUser, vmId: string): Promise<DiskDto[]> {
    await this.access.visible(user, vmId);
    return (await this.disks.ofVm(vmId)).map(DiskDto.from);
  }

  /** An empty disk at the lowest free position; hot-plugged by the operation when the VM runs. */
  add(user: AuthUser, vmId: string, dto: CreateDiskDto, idem?: IdempotentRequest): Promise<DiskAcceptedDto> {
    return this.accept(user, idem, async (tx) => {
      const vm = await this.usableVm(user, vmId, tx);
      const position = freeDiskPosition(await this.disks.ofVm(vmId, tx));
      if (position === null)
        throw new AppException(
          HttpStatus.BAD_REQUEST,
          ErrorCode.VALIDATION_FAILED,
          `A VM has at most ${MAX_DISKS} disks`,
        );
      await this.ledger.reserve(tx, vm.ownerId, { diskGiB: dto.sizeGiB });
      if (vm.hostId) await this.placement.assertStorageRoom(vm.hostId, dto.sizeGiB * GIB);
      const disk = newVmDisk({ vmId: vm.id, position, sizeGiB: dto.sizeGiB, bus: dto.bus }, (id) =>
        diskVolumeName(vm.id, id),
      );
      await this.disks.add(tx, disk);
      return { vm, disk, charged: true, op: { kind: 'vm.disk.add', params: { diskId: disk.id } } };
    });
  }

  /** Any disk but the boot disk (409); the operation unplugs it, deletes its volume, then the row. */
  remove(user: AuthUser, vmId: string, diskId: string, idem?: IdempotentRequest): Promise<DiskAcceptedDto> {
    return this.accept(user, idem, async (tx) => {
      const vm = await this.usableVm(user, vmId, tx);
      const disk = await this.diskOf(vm, diskId, tx);
      if (disk.position === 0)
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, 'The boot disk cannot be removed');
      return { vm, disk, charged: false, op: { kind: 'vm.disk.remove', params: { diskId: disk.id } } };
    });
  }

  /** Grows a disk (live when the VM runs); the growth is reserved now and given back if the operation fails. */
  resize(
    user: AuthUser,
    vmId: string,
    diskId: string,
    dto: ResizeDiskDto,
    idem?: IdempotentRequest,
  ): Promise<DiskAcceptedDto> {
    return this.accept(user, idem, async (tx) => {
      const vm = await this.usableVm(user, vmId, tx);
      const disk = await this.diskOf(vm, diskId, tx);
      if (dto.sizeGiB <= disk.sizeGiB)
        throw invalidField('sizeGiB', `sizeGiB must be larger than the disk's ${disk.sizeGiB} GiB: disks only grow`);
      const growth = dto.sizeGiB - disk.sizeGiB;
      await this.ledger.reserve(tx, vm.ownerId, { diskGiB: growth });
      if (vm.hostId) await this.placement.assertStorageRoom(vm.hostId, growth * GIB);
      await this.disks.resize(disk.id, disk.sizeGiB, dto.sizeGiB, tx);
      const resized = Object.assign(new VmDisk(), disk, { sizeGiB: dto.sizeGiB });
      return {
        vm,
        disk: resized,
        charged: true,
        op: { kind: 'vm.disk.resize', params: { diskId: disk.id, fromGiB: disk.sizeGiB, sizeGiB: dto.sizeGiB } },
      };
    });
  }

  /**
   * The request's transaction: the rule checks (`work`), then, when the disks grew, `vms.disk_gib`
   * set to their new sum (with a `vm.updated`: the VM's version changed), and the operation.
   */
  private accept(
    user: AuthUser,
    idem: IdempotentRequest | undefined,
    work: (tx: Tx) => Promise<{
      vm: Vm;
      disk: VmDisk;
      charged: boolean;
      op: { kind: DiskKind; params: OperationParams[DiskKind] };
    }>,
  ): Promise<DiskAcceptedDto> {
    return this.operations.accept(user.id, idem, async (tx) => {
      const { vm, disk, charged, op: planned } = await work(tx);
      const events: NewEvent[] = [];
      if (charged) {
        const updated = await this.vms.update(vm.id, { diskGiB: await this.disks.totalGiB(vm.id, tx) }, tx);
        events.push(vmStateEvent(updated, 'vm.updated'));
      }
      const op = await this.operations.create(tx, { ...planned, ownerId: vm.ownerId, vmId: vm.id });
      return { op, events, result: { disk: DiskDto.from(disk), operation: OperationDto.from(op) } };
    });
  }

  /** Yours (or, for an admin, anyone's) and not in the middle of something else; the row stays locked. */
  private async usableVm(user: AuthUser, vmId: string, tx: Tx): Promise<Vm> {
    const vm = await this.access.visible(user, vmId, tx, true);
    if (UNUSABLE_STATES.includes(vm.state))
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The VM is ${vm.state}`, {
        state: vm.state,
      });
    return vm;
  }

  private async diskOf(vm: Vm, diskId: string, tx: Tx): Promise<VmDisk> {
    const disk = await this.disks.find(diskId, tx);
    if (!disk || disk.vmId !== vm.id) throw AppException.notFound('Disk');
    return disk;
  }
}
