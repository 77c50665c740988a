import { HttpStatus, Injectable } from '@nestjs/common';
import { DiskBus, diskVolumeName } from '@limen/libvirt';
import { randomUUID } from 'node:crypto';
import { AuthUser } from '../auth/decorators';
import { AppException, ErrorCode } from '../common/problem';
import { Tx } from '../database/transaction';
import { newVmDisk } from '../disks/vm-disk-fields';
import { VmDiskRepository } from '../disks/vm-disk.repository';
import { NewEvent } from '../events/events.service';
import { HostPlacement } from '../hosts/host-placement';
import { Image } from '../images/image.entity';
import { NicRequest, VmNetworking } from '../networks/vm-networking';
import { Operation } from '../operations/operation.entity';
import { VmCreateSource } from '../operations/operation-kinds';
import { OperationsService } from '../operations/operations.service';
import { QuotaLedger } from '../quotas/quota-ledger';
import { VmDto } from './dto/vm.dto';
import { Vm } from './vm.entity';
import { VmRepository } from './vm.repository';
import { newVmFields } from './vms.service';

const GIB = 1024 ** 3;

/** What a VM made from a source (see VmsFromSource.createIn) is: its disks in position order. */
export interface VmFromSourcePlan {
  name: string;
  description: string;
  vcpus: number;
  memoryMiB: number;
  image: Image;
  bootOrder: string[];
  /** `serial`: what the guest saw as the disk's serial (kept by a restore); absent: a new one. */
  disks: Array<{ sizeGiB: number; bus: DiskBus; bootIndex: number | null; serial?: string }>;
  /** Undefined: one NIC on the default network. */
  nics: NicRequest[] | undefined;
  start: boolean;
  /** The host to use when it has room (the source's); null: placement decides. */
  preferredHostId: string | null;
  source: VmCreateSource;
}

/** Creates of VMs whose disks come from somewhere else than their image (a backup, another VM). */
@Injectable()
export class VmsFromSource {
  constructor(
    private readonly vms: VmRepository,
    private readonly hosts: HostPlacement,
    private readonly ledger: QuotaLedger,
    private readonly operations: OperationsService,
    private readonly networking: VmNetworking,
    private readonly disks: VmDiskRepository,
  ) {}

  /**
   * A new VM of `owner` whose disks come from `plan.source` (a backup's files, another VM's disks)
   * rather than its image, written in the caller's transaction as a create writes one: the quota
   * (a VM, its vCPUs, memory and disks), a host (the preferred one when it has room, else
   * placement), the rows and its `vm.create` operation, whose disk filler makes the volumes.
   */
  async createIn(
    tx: Tx,
    owner: AuthUser,
    plan: VmFromSourcePlan,
  ): Promise<{ vm: Vm; op: Operation<'vm.create'>; events: NewEvent[] }> {
    const diskGiB = plan.disks.reduce((total, disk) => total + disk.sizeGiB, 0);
    await this.ledger.reserve(tx, owner.id, { vms: 1, vcpus: plan.vcpus, memoryMiB: plan.memoryMiB, diskGiB });
    const request = { vcpus: plan.vcpus, memoryMiB: plan.memoryMiB, diskBytes: diskGiB * GIB };
    let hostId: string | null = null;
    // The preferred host refusing (down, full, gone) is no reason to refuse the VM: placement picks another.
    if (plan.preferredHostId)
      hostId = await this.hosts.place(tx, request, plan.preferredHostId).catch((error: unknown) => {
        if (error instanceof AppException) return null;
        throw error;
      });
    hostId ??= await this.hosts.place(tx, request);
    await this.hosts.assertStorageRoom(hostId, request.diskBytes);
    const fields = newVmFields(
      {
        name: plan.name,
        description: plan.description,
        vcpus: plan.vcpus,
        memoryMiB: plan.memoryMiB,
        diskGiB,
        imageId: plan.image.id,
        start: plan.start,
      },
      plan.image,
      owner.id,
      hostId,
    );
    const vm = Object.assign(new Vm(), { id: randomUUID(), ...fields, bootOrder: plan.bootOrder });
    if (!(await this.vms.insertIfNameFree(tx, vm))) {
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, `You already have a VM named ${plan.name}`);
    }
    for (const [position, disk] of plan.disks.entries()) {
      const row = newVmDisk({ vmId: vm.id, position, ...disk }, (diskId) => diskVolumeName(vm.id, diskId));
      await this.disks.add(tx, Object.assign(row, disk.serial ? { serial: disk.serial } : {}));
    }
    await this.networking.attachAtCreate(tx, owner, vm.id, plan.nics);
    const op = await this.operations.create(tx, {
      kind: 'vm.create',
      ownerId: owner.id,
      vmId: vm.id,
      params: { start: plan.start, cloudInit: null, source: plan.source },
    });
    return { vm, op, events: [{ type: 'vm.created', ownerId: owner.id, vmId: vm.id, payload: VmDto.from(vm) }] };
  }
}
