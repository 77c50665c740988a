import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuthUser } from '../auth/decorators';
import { AppException } from '../common/problem';
import { EventsService } from '../events/events.service';
import { VmDto } from './dto/vm.dto';
import { Vm } from './vm.entity';
import { VmState } from './vm-state';

/** The one place that reads VMs for a caller and changes their state (bumping the version and raising vm.state). */
@Injectable()
export class VmStore {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly events: EventsService,
  ) {}

  /** Owner or admin; anyone else gets 404 so existence does not leak. */
  async visible(user: AuthUser, id: string, manager: EntityManager = this.dataSource.manager, lock = false): Promise<Vm> {
    const vm = await manager.findOne(Vm, { where: { id }, ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}) });
    if (!vm || (user.role !== 'admin' && vm.ownerId !== user.id)) throw AppException.notFound('VM');
    return vm;
  }

  find(id: string): Promise<Vm | null> {
    return this.dataSource.manager.findOneBy(Vm, { id });
  }

  /**
   * Sets the state unless it already is that (or, with `unlessIn`, the VM is in
   * one of those states, e.g. an operation owns it), and announces the change.
   */
  async setState(id: string, state: VmState, reason: string | null = null, unlessIn: readonly VmState[] = []): Promise<boolean> {
    const [rows] = await this.dataSource.query(
      `UPDATE vms SET state = $2, state_reason = $3, version = version + 1, updated_at = now()
       WHERE id = $1 AND (state <> $2 OR state_reason IS DISTINCT FROM $3) AND NOT (state = ANY($4::text[]))
       RETURNING id`,
      [id, state, reason, unlessIn],
    );
    if (!rows.length) return false;
    const vm = await this.find(id);
    if (vm) await this.events.publish({ type: 'vm.state', ownerId: vm.ownerId, vmId: vm.id, payload: { vmId: vm.id, state: vm.state, stateReason: vm.stateReason, version: vm.version } });
    return true;
  }

  /** Applies column changes and bumps the version in one statement. */
  async update(manager: EntityManager, id: string, changes: Partial<Pick<Vm, 'vcpus' | 'memoryMiB' | 'description' | 'bootOrder' | 'mediaImageId'>>): Promise<Vm> {
    await manager
      .createQueryBuilder()
      .update(Vm)
      .set({ ...changes, version: () => 'version + 1' })
      .where('id = :id', { id })
      .execute();
    return manager.findOneByOrFail(Vm, { id });
  }

  async remove(vm: Vm): Promise<void> {
    await this.dataSource.manager.delete(Vm, { id: vm.id });
    await this.events.publish({ type: 'vm.deleted', ownerId: vm.ownerId, vmId: vm.id, payload: { vmId: vm.id, name: vm.name } });
  }

  dto(vm: Vm): VmDto {
    return VmDto.from(vm);
  }
}
