import { HttpStatus, Injectable } from '@nestjs/common';
import { diskVolumeName } from '@limen/libvirt';
import { randomUUID } from 'node:crypto';
import { AuthUser } from '../auth/decorators';
import { AppException, ErrorCode } from '../common/problem';
import { Tx } from '../database/transaction';
import { baseVolumeName, newVmDisk } from '../disks/vm-disk-fields';
import { VmDisk } from '../disks/vm-disk.entity';
import { VmDiskRepository } from '../disks/vm-disk.repository';
import { HostPlacement } from '../hosts/host-placement';
import { HostPorts } from '../hosts/host-ports';
import { IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { Image } from '../images/image.entity';
import { ImagesService } from '../images/images.service';
import { VmNetworking } from '../networks/vm-networking';
import { OperationDto } from '../operations/dto/operation.dto';
import { CloudInitParams } from '../operations/operation-kinds';
import { OperationsService } from '../operations/operations.service';
import { QuotaLedger } from '../quotas/quota-ledger';
import { SnapshotRepository } from '../snapshots/snapshot.repository';
import { CloneVmDto } from './dto/clone-vm.dto';
import { VmAcceptedDto, VmDto } from './dto/vm.dto';
import { Vm } from './vm.entity';
import { VmAccess } from './vm-access';
import { VmRepository } from './vm.repository';
import { newVmFields } from './vms.service';

const GIB = 1024 ** 3;

/**
 * The clone's seed: the source's user-data and SSH keys as its create stored them, without its
 * hostname (the clone's name is its hostname, see VmOperations.metaData), plus a new machine id at
 * its first boot. Its instance id is its own VM id, so cloud-init runs its per-instance steps
 * again. Images other than disk images boot no cloud-init: no seed.
 */
export function cloneCloudInit(image: Image, source: CloudInitParams | null | undefined): CloudInitParams | null {
  if (image.kind !== 'disk') return null;
  const { hostname: _hostname, ...kept } = source ?? {};
  return { ...kept, regenerateMachineId: true };
}

/**
 * Clones: a new VM, owned by the caller, with the source's shape (vCPUs, memory, boot order, disks
 * by position with new ids and serials, NICs on the same networks with new MACs, no port
 * forwards), on the source's host, charged like a create. Its disks are made by its `vm.create`
 * from the source's (VmCloneDisks).
 */
@Injectable()
export class VmClonesService {
  constructor(
    private readonly access: VmAccess,
    private readonly vms: VmRepository,
    private readonly disks: VmDiskRepository,
    private readonly snapshots: SnapshotRepository,
    private readonly images: ImagesService,
    private readonly ledger: QuotaLedger,
    private readonly hosts: HostPlacement,
    private readonly hostPorts: HostPorts,
    private readonly networking: VmNetworking,
    private readonly operations: OperationsService,
  ) {}

  async clone(user: AuthUser, sourceId: string, dto: CloneVmDto, idem?: IdempotentRequest): Promise<VmAcceptedDto> {
    // Read before the transaction, which (on embedded PostgreSQL's one connection) may use nothing
    // but its own queries; a VM's image never changes.
    const image = await this.images.get((await this.access.visible(user, sourceId)).imageId);
    return this.operations.accept(user.id, idem, async (tx) => {
      // Locked: a start, a delete or a snapshot change of the source waits for this request.
      const source = await this.access.visible(user, sourceId, tx, true);
      const snapshotName = await this.snapshotToCopy(tx, source, dto.snapshotId);
      const sourceDisks = await this.disks.ofVm(source.id, tx);
      const diskGiB = sourceDisks.reduce((total, disk) => total + disk.sizeGiB, 0);
      await this.ledger.reserve(tx, user.id, {
        vms: 1,
        vcpus: source.vcpus,
        memoryMiB: source.memoryMiB,
        diskGiB,
      });
      // The copies are made in the source's pool, so the clone lives on the source's host.
      const request = { vcpus: source.vcpus, memoryMiB: source.memoryMiB, diskBytes: diskGiB * GIB };
      const hostId = await this.hosts.place(tx, request, source.hostId ?? this.hostPorts.localId ?? undefined);
      await this.hosts.assertStorageRoom(hostId, request.diskBytes);
      const start = dto.start ?? true;
      const vm = Object.assign(new Vm(), {
        id: randomUUID(),
        ...newVmFields(
          {
            name: dto.name,
            description: dto.description ?? source.description,
            vcpus: source.vcpus,
            memoryMiB: source.memoryMiB,
            diskGiB,
            imageId: source.imageId,
            start,
          },
          image,
          user.id,
          hostId,
        ),
        bootOrder: source.bootOrder,
        mediaImageId: source.mediaImageId,
      });
      if (!(await this.vms.insertIfNameFree(tx, vm))) {
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, `You already have a VM named ${dto.name}`);
      }
      const linked = dto.linked ?? false;
      await this.writeDisks(tx, vm, sourceDisks, linked);
      await this.attachNics(tx, source, vm);
      const created = await this.operations.createParamsOf(source.id, tx);
      const op = await this.operations.create(tx, {
        kind: 'vm.create',
        ownerId: user.id,
        vmId: vm.id,
        params: {
          start,
          cloudInit: cloneCloudInit(image, created?.cloudInit),
          source: { kind: 'clone', vmId: source.id, linked, snapshotName },
        },
      });
      return {
        op,
        events: [{ type: 'vm.created', ownerId: user.id, vmId: vm.id, payload: VmDto.from(vm) }],
        result: { vm: VmDto.from(vm), operation: OperationDto.from(op) },
      };
    });
  }

  /** The source's disks by position, with new ids, serials and volume names (and bases when linked). */
  private async writeDisks(tx: Tx, vm: Vm, sourceDisks: VmDisk[], linked: boolean): Promise<void> {
    for (const from of sourceDisks) {
      const disk = newVmDisk(
        { vmId: vm.id, position: from.position, sizeGiB: from.sizeGiB, bus: from.bus, bootIndex: from.bootIndex },
        (diskId) => diskVolumeName(vm.id, diskId),
      );
      disk.baseVolume = linked ? baseVolumeName(vm.id, disk.id) : null;
      await this.disks.add(tx, disk);
    }
  }

  /**
   * NICs on the source's networks at the same positions, with new MACs and no port forwards. The
   * source's networks, which its owner could attach it to (the default network, or one an admin
   * attached), are the clone's too: usable without the caller's own rights to them.
   */
  private async attachNics(tx: Tx, source: Vm, vm: Vm): Promise<void> {
    for (const { nic } of await this.networking.nicsWithNetworks(source.id, tx)) {
      await this.networking.usableNetwork(tx, null, nic.networkId);
      await this.networking.insert(tx, vm.id, { networkId: nic.networkId, model: nic.model }, nic.position);
    }
  }

  /**
   * The snapshot whose state is copied (a ready one of the source; the source may then run), or
   * null: the disks as they are, which the source must be stopped for.
   */
  private async snapshotToCopy(tx: Tx, source: Vm, snapshotId: string | undefined): Promise<string | null> {
    if (snapshotId === undefined) {
      if (source.state !== 'stopped')
        throw new AppException(
          HttpStatus.CONFLICT,
          ErrorCode.INVALID_STATE,
          `The VM is ${source.state}: stop it first, or clone it from a snapshot (snapshotId)`,
        );
      return null;
    }
    if (!['running', 'paused', 'stopped'].includes(source.state))
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The VM is ${source.state}`);
    const snapshot = await this.snapshots.findOfVm(tx, source.id, snapshotId);
    if (!snapshot) throw AppException.notFound('Snapshot');
    if (snapshot.state !== 'ready')
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The snapshot is ${snapshot.state}`);
    return snapshot.name;
  }
}
