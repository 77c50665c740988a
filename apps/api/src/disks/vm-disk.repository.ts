import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { VmDisk } from './vm-disk.entity';

/** The one owner of the `vm_disks` table's SQL. */
@Injectable()
export class VmDiskRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** A VM's disks in domain order (the boot disk first). */
  ofVm(vmId: string, tx?: Tx): Promise<VmDisk[]> {
    return this.manager(tx).find(VmDisk, { where: { vmId }, order: { position: 'ASC' } });
  }

  /** Inserts a disk; its id is the caller's, since the volume name is derived from it. */
  async add(tx: Tx, disk: VmDisk): Promise<void> {
    await this.insert(tx, disk);
  }
}
