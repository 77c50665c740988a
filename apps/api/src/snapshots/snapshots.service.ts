import { HttpStatus, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { HypervisorError, VirtualizationPort } from '@limen/libvirt';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { AuthUser } from '../auth/decorators';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { AppException, ErrorCode } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { EventsService } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { StoredResponse } from '../idempotency/idempotency.service';
import { OperationDto } from '../operations/dto/operation.dto';
import { Operation } from '../operations/operation.entity';
import { OperationRunner } from '../operations/operation-runner';
import { OperationsService } from '../operations/operations.service';
import { QuotaLedger, snapshotReservationMiB, snapshotSizeMiB } from '../quotas/quota-ledger';
import { Vm } from '../vms/vm.entity';
import { vmPaths } from '../vms/vm-paths';
import { bootedSizesOf, vmStateFromDomain } from '../vms/vm-state';
import { VmStore } from '../vms/vm-store';
import { CreateSnapshotDto, SnapshotDto } from './dto/snapshot.dto';
import { Snapshot } from './snapshot.entity';

/** Snapshots are operations on their VM: one at a time with any other VM operation, quota-checked on create. */
@Injectable()
export class SnapshotsService implements OnModuleInit {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly hostPorts: HostPorts,
    private readonly vms: VmStore,
    private readonly ledger: QuotaLedger,
    private readonly operations: OperationsService,
    private readonly runner: OperationRunner,
    private readonly events: EventsService,
  ) {}

  onModuleInit(): void {
    this.runner.register('snapshot.create', (op) => this.runCreate(op));
    this.runner.register('snapshot.revert', (op) => this.runRevert(op));
    this.runner.register('snapshot.delete', (op) => this.runDelete(op));
  }

  async list(
    user: AuthUser,
    vmId: string,
    page: PageQueryDto,
  ): Promise<{ items: Snapshot[]; nextCursor: string | null }> {
    await this.vms.visible(user, vmId);
    return paginate(
      this.dataSource.manager.createQueryBuilder(Snapshot, 'snapshot').where('snapshot.vmId = :vmId', { vmId }),
      page,
    );
  }

  create(user: AuthUser, vmId: string, dto: CreateSnapshotDto, idem?: IdempotentRequest): Promise<StoredResponse> {
    return this.accept(user, idem, 'snapshot.create', async (manager) => {
      const vm = await this.usableVm(user, vmId, manager);
      const sizeMiB = snapshotReservationMiB(vm);
      await this.ledger.reserve(manager, vm.ownerId, { snapshots: 1, diskGiB: sizeMiB / 1024 });
      try {
        const snapshot = await manager.transaction((inner) =>
          inner.save(
            inner.create(Snapshot, {
              vmId,
              ownerId: vm.ownerId,
              name: dto.name,
              description: dto.description ?? '',
              state: 'creating',
              sizeMiB,
            }),
          ),
        );
        return { vm, snapshot };
      } catch (error) {
        if (error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '23505') {
          throw new AppException(
            HttpStatus.CONFLICT,
            ErrorCode.CONFLICT,
            `The VM already has a snapshot named ${dto.name}`,
          );
        }
        throw error;
      }
    });
  }

  revert(user: AuthUser, vmId: string, snapshotId: string, idem?: IdempotentRequest): Promise<StoredResponse> {
    return this.accept(user, idem, 'snapshot.revert', async (manager) => {
      const vm = await this.usableVm(user, vmId, manager);
      return { vm, snapshot: await this.readySnapshot(manager, vmId, snapshotId) };
    });
  }

  remove(user: AuthUser, vmId: string, snapshotId: string, idem?: IdempotentRequest): Promise<StoredResponse> {
    return this.accept(user, idem, 'snapshot.delete', async (manager) => {
      const vm = await this.usableVm(user, vmId, manager);
      const snapshot = await this.readySnapshot(manager, vmId, snapshotId);
      await manager.update(Snapshot, { id: snapshot.id }, { state: 'deleting' });
      return { vm, snapshot: { ...snapshot, state: 'deleting' as const } };
    });
  }

  private accept(
    user: AuthUser,
    idem: IdempotentRequest | undefined,
    kind: string,
    work: (manager: EntityManager) => Promise<{ vm: Vm; snapshot: Snapshot }>,
  ): Promise<StoredResponse> {
    return this.operations.accept(user.id, idem, async (manager) => {
      const { vm, snapshot } = await work(manager);
      const op = await this.operations.create(manager, {
        kind,
        ownerId: vm.ownerId,
        vmId: vm.id,
        params: { snapshotId: snapshot.id },
      });
      return {
        op,
        response: {
          statusCode: 202,
          body: { snapshot: SnapshotDto.from(snapshot), operation: OperationDto.from(op) },
          location: `/api/v1/operations/${op.id}`,
        },
      };
    });
  }

  private async usableVm(user: AuthUser, vmId: string, manager: EntityManager): Promise<Vm> {
    const vm = await this.vms.visible(user, vmId, manager, true);
    if (['provisioning', 'deleting', 'missing', 'error'].includes(vm.state)) {
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The VM is ${vm.state}`);
    }
    return vm;
  }

  private async readySnapshot(manager: EntityManager, vmId: string, snapshotId: string): Promise<Snapshot> {
    const snapshot = await manager.findOneBy(Snapshot, { id: snapshotId, vmId });
    if (!snapshot) throw AppException.notFound('Snapshot');
    if (snapshot.state !== 'ready')
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The snapshot is ${snapshot.state}`);
    return snapshot;
  }

  private async snapshotOf(op: Operation): Promise<Snapshot | null> {
    return this.dataSource.manager.findOneBy(Snapshot, { id: String(op.params.snapshotId) });
  }

  /** The hypervisor holding the snapshot's VM. */
  private async portOf(snapshot: Snapshot): Promise<VirtualizationPort> {
    const vm = await this.vms.find(snapshot.vmId);
    if (!vm) throw new HypervisorError('DOMAIN_NOT_FOUND', 'The VM no longer exists');
    return this.hostPorts.forVm(vm);
  }

  private async runCreate(op: Operation): Promise<Record<string, unknown>> {
    const snapshot = await this.snapshotOf(op);
    if (!snapshot) return { skipped: true };
    try {
      const port = await this.portOf(snapshot);
      const existing = (await port.listSnapshots(snapshot.vmId)).some((s) => s.name === snapshot.name);
      if (!existing) {
        // The RAM state lands in the disk file, and so may more than was reserved: what it grew by is charged.
        const disk = vmPaths(this.config.hypervisor.vmDir, snapshot.vmId).disk;
        const before = (await port.getVolume(disk, 'qcow2')).actualSizeBytes;
        await port.createSnapshot(snapshot.vmId, {
          name: snapshot.name,
          description: snapshot.description || undefined,
        });
        snapshot.sizeMiB = snapshotSizeMiB(
          snapshot.sizeMiB,
          (await port.getVolume(disk, 'qcow2')).actualSizeBytes - before,
        );
      }
    } catch (error) {
      // Not taken: the row goes, and with it the quota it held.
      await this.dataSource.manager.delete(Snapshot, { id: snapshot.id });
      throw error;
    }
    await this.dataSource.manager.update(Snapshot, { id: snapshot.id }, { state: 'ready', sizeMiB: snapshot.sizeMiB });
    await this.events.publish({
      type: 'snapshot.created',
      ownerId: snapshot.ownerId,
      vmId: snapshot.vmId,
      payload: { ...SnapshotDto.from(snapshot), state: 'ready' },
    });
    return { snapshotId: snapshot.id };
  }

  private async runRevert(op: Operation): Promise<Record<string, unknown>> {
    const snapshot = await this.snapshotOf(op);
    if (!snapshot) throw AppException.notFound('Snapshot');
    const port = await this.portOf(snapshot);
    await port.revertSnapshot(snapshot.vmId, snapshot.name);
    // A revert brings back the definition of snapshot time, with that time's vCPUs and memory: the
    // next boot must get what the VM is charged for now. A domain resumed from the snapshot's RAM
    // runs with the old sizes until it stops, and is charged for them (setState records them).
    const vm = await this.vms.find(snapshot.vmId);
    if (vm) {
      await port.setVcpus(vm.id, vm.vcpus);
      await port.setMemory(vm.id, vm.memoryMiB);
    }
    const domain = await port.getDomain(snapshot.vmId);
    await this.vms.setState(
      snapshot.vmId,
      vmStateFromDomain(domain.state, domain.shutoffReason),
      null,
      [],
      bootedSizesOf(domain),
    );
    await this.events.publish({
      type: 'snapshot.reverted',
      ownerId: snapshot.ownerId,
      vmId: snapshot.vmId,
      payload: SnapshotDto.from(snapshot) as unknown as Record<string, unknown>,
    });
    return { snapshotId: snapshot.id, state: vmStateFromDomain(domain.state, domain.shutoffReason) };
  }

  private async runDelete(op: Operation): Promise<Record<string, unknown>> {
    const snapshot = await this.snapshotOf(op);
    if (!snapshot) return { alreadyDeleted: true };
    try {
      await (await this.portOf(snapshot)).deleteSnapshot(snapshot.vmId, snapshot.name);
    } catch (error) {
      if (!HypervisorError.is(error, 'SNAPSHOT_NOT_FOUND')) {
        await this.dataSource.manager.update(Snapshot, { id: snapshot.id }, { state: 'ready' });
        throw error;
      }
    }
    await this.dataSource.manager.delete(Snapshot, { id: snapshot.id });
    await this.events.publish({
      type: 'snapshot.deleted',
      ownerId: snapshot.ownerId,
      vmId: snapshot.vmId,
      payload: { id: snapshot.id, vmId: snapshot.vmId, name: snapshot.name },
    });
    return { snapshotId: snapshot.id };
  }
}
