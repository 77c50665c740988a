import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { Snapshot } from './snapshot.entity';

/** The one owner of the `snapshots` table's SQL (the quota's sum over it aside: QuotaRepository). */
@Injectable()
export class SnapshotRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** A VM's snapshots, newest first. */
  pageOfVm(vmId: string, page: PageQueryDto): Promise<{ items: Snapshot[]; nextCursor: string | null }> {
    return paginate(
      this.manager().createQueryBuilder(Snapshot, 'snapshot').where('snapshot.vmId = :vmId', { vmId }),
      page,
    );
  }

  find(id: string): Promise<Snapshot | null> {
    return this.manager().findOneBy(Snapshot, { id });
  }

  /** The snapshots a schedule took, in any state. */
  ofSchedule(scheduleId: string): Promise<Snapshot[]> {
    return this.manager().findBy(Snapshot, { scheduleId });
  }

  findOfVm(tx: Tx, vmId: string, id: string): Promise<Snapshot | null> {
    return this.manager(tx).findOneBy(Snapshot, { id, vmId });
  }

  /** Inserts a new snapshot; false when its VM already has one of that name (skipped, so `tx` stays usable). */
  insertIfNameFree(tx: Tx, snapshot: Snapshot): Promise<boolean> {
    return this.insert(tx, snapshot, { ifNoConflict: true });
  }

  async update(id: string, changes: Partial<Pick<Snapshot, 'state' | 'sizeMiB'>>, tx?: Tx): Promise<void> {
    await this.manager(tx).update(Snapshot, { id }, changes);
  }

  async delete(id: string): Promise<void> {
    await this.manager().delete(Snapshot, { id });
  }

  /** Every snapshot row of a VM (their data lived in disks that were replaced: a restore). */
  async deleteOfVm(vmId: string, tx?: Tx): Promise<void> {
    await this.manager(tx).delete(Snapshot, { vmId });
  }
}
