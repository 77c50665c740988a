import { Injectable } from '@nestjs/common';
import { AuthUser } from '../auth/decorators';
import { AppException } from '../common/problem';
import { Tx } from '../database/transaction';
import { Vm } from './vm.entity';
import { VmRepository } from './vm.repository';

/** The ownership rule of VMs, for every route that names one. */
@Injectable()
export class VmAccess {
  constructor(private readonly vms: VmRepository) {}

  /** Owner or admin; anyone else gets 404 so existence does not leak. With `lock`, the row is locked until `tx` ends. */
  async visible(user: AuthUser, id: string, tx?: Tx, lock = false): Promise<Vm> {
    const vm = await this.vms.find(id, tx, { lock });
    if (!vm || (user.role !== 'admin' && vm.ownerId !== user.id)) throw AppException.notFound('VM');
    return vm;
  }
}
