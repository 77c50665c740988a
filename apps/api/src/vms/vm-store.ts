import { Injectable } from '@nestjs/common';
import { AuthUser } from '../auth/decorators';
import { AppException } from '../common/problem';
import { Transactions, Tx } from '../database/transaction';
import { EventsService } from '../events/events.service';
import { Vm } from './vm.entity';
import { VmColumnChanges, VmRepository } from './vm.repository';
import { BootedSizes, VmState } from './vm-state';
import { VmStateWriter } from './vm-state-writer';

/**
 * The ownership rule of VMs (`visible`), and the few VM writes VmOperations and VmReconciler make,
 * each handed on to VmRepository or VmStateWriter.
 */
@Injectable()
export class VmStore {
  constructor(
    private readonly vms: VmRepository,
    private readonly stateWriter: VmStateWriter,
    private readonly events: EventsService,
    private readonly transactions: Transactions,
  ) {}

  /** Owner or admin; anyone else gets 404 so existence does not leak. With `lock`, the row is locked until `tx` ends. */
  async visible(user: AuthUser, id: string, tx?: Tx, lock = false): Promise<Vm> {
    const vm = await this.vms.find(id, tx, { lock });
    if (!vm || (user.role !== 'admin' && vm.ownerId !== user.id)) throw AppException.notFound('VM');
    return vm;
  }

  find(id: string): Promise<Vm | null> {
    return this.vms.find(id);
  }

  /** See VmStateWriter.set and VmRepository.writeState. */
  setState(
    id: string,
    state: VmState,
    reason: string | null = null,
    unlessIn: readonly VmState[] = [],
    booted?: BootedSizes,
  ): Promise<boolean> {
    return this.stateWriter.set(id, { state, reason, unlessIn, booted });
  }

  /** Applies column changes and bumps the version. */
  update(id: string, changes: VmColumnChanges): Promise<Vm> {
    return this.transactions.run((tx) => this.vms.update(tx, id, changes));
  }

  async remove(vm: Vm): Promise<void> {
    await this.vms.delete(vm.id);
    await this.events.publish({
      type: 'vm.deleted',
      ownerId: vm.ownerId,
      vmId: vm.id,
      payload: { vmId: vm.id, name: vm.name },
    });
  }
}
