import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { VmNic } from './vm-nic.entity';

/** The one owner of the `vm_nics` table's SQL. */
@Injectable()
export class VmNicRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** A VM's NICs in domain order. */
  ofVm(vmId: string, tx?: Tx): Promise<VmNic[]> {
    return this.manager(tx).find(VmNic, { where: { vmId }, order: { position: 'ASC', createdAt: 'ASC' } });
  }

  /** The NICs of several VMs at once, each VM's in domain order (the address watcher's sweep). */
  ofVms(vmIds: string[], tx?: Tx): Promise<VmNic[]> {
    if (!vmIds.length) return Promise.resolve([]);
    return this.manager(tx).find(VmNic, {
      where: { vmId: In(vmIds) },
      order: { vmId: 'ASC', position: 'ASC', createdAt: 'ASC' },
    });
  }

  find(id: string, tx?: Tx): Promise<VmNic | null> {
    return this.manager(tx).findOneBy(VmNic, { id });
  }

  findOfVm(vmId: string, id: string, tx?: Tx): Promise<VmNic | null> {
    return this.manager(tx).findOneBy(VmNic, { id, vmId });
  }

  async macInUse(mac: string, tx?: Tx): Promise<boolean> {
    return (await this.manager(tx).countBy(VmNic, { mac: mac.toLowerCase() })) > 0;
  }

  /** Inserts a NIC (id, timestamps filled in); false when its MAC is taken (skipped, so `tx` stays usable). */
  insertIfMacFree(tx: Tx, nic: VmNic): Promise<boolean> {
    return this.insert(tx, nic, { ifNoConflict: true });
  }

  /** How many NICs reference the network (a network in use cannot be deleted). */
  countOnNetwork(networkId: string, tx?: Tx): Promise<number> {
    return this.manager(tx).countBy(VmNic, { networkId });
  }

  async delete(id: string, tx?: Tx): Promise<void> {
    await this.manager(tx).delete(VmNic, { id });
  }
}
