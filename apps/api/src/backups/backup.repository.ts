import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { Backup, BackupState } from './backup.entity';

/** Which backups a list shows: one owner's, one VM's, or (admins) everyone's. */
export interface BackupFilter {
  ownerId?: string;
  vmId?: string;
}

/** States a list shows: a backup being restored from is still a good copy. */
const LISTED_STATES: readonly BackupState[] = ['ready', 'restoring'];

/**
 * The operations that may still be working on a backup ($1 as text): its create, a restore over
 * its VM, or a create of a new VM from it. Read only, to tell a stuck row from a busy one.
 */
const ACTIVE_WORK_SQL = `EXISTS (SELECT 1 FROM operations o WHERE o.status IN ('pending', 'running') AND (
    (o.kind IN ('backup.create', 'backup.restore') AND o.params->>'backupId' = b.id::text)
    OR (o.kind = 'vm.create' AND o.params->'source'->>'backupId' = b.id::text)))`;

/** The one owner of the `backups` table's SQL (the quota's sum over it aside: QuotaRepository). */
@Injectable()
export class BackupRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** Ready backups (and those being restored from), newest first. */
  page(filter: BackupFilter, page: PageQueryDto): Promise<{ items: Backup[]; nextCursor: string | null }> {
    const query = this.manager()
      .createQueryBuilder(Backup, 'backup')
      .where('backup.state IN (:...states)', { states: LISTED_STATES });
    if (filter.ownerId) query.andWhere('backup.ownerId = :ownerId', { ownerId: filter.ownerId });
    if (filter.vmId) query.andWhere('backup.vmId = :vmId', { vmId: filter.vmId });
    return paginate(query, page);
  }

  /** With `lock`, the row stays locked until `tx` ends. */
  find(id: string, tx?: Tx, lock = false): Promise<Backup | null> {
    return this.manager(tx).findOne(Backup, {
      where: { id },
      ...(lock && tx ? { lock: { mode: 'pessimistic_write' } } : {}),
    });
  }

  /** The backups a schedule made (failed ones aside), newest first. */
  ofSchedule(scheduleId: string): Promise<Backup[]> {
    return this.manager()
      .createQueryBuilder(Backup, 'backup')
      .where('backup.scheduleId = :scheduleId', { scheduleId })
      .andWhere(`backup.state <> 'failed'`)
      .orderBy('backup.createdAt', 'DESC')
      .addOrderBy('backup.id', 'DESC')
      .getMany();
  }

  /** Inserts a new backup and fills in its id and creation time. */
  async add(tx: Tx, backup: Backup): Promise<void> {
    await this.insert(tx, backup);
  }

  async update(
    id: string,
    changes: Partial<Pick<Backup, 'state' | 'consistency' | 'sizeBytes' | 'manifest' | 'error' | 'completedAt'>>,
    tx?: Tx,
  ): Promise<void> {
    await this.manager(tx).update(Backup, { id }, changes);
  }

  /** Moves the backup from `from` to `to` only if it still is `from`; whether it did. */
  async setStateIf(id: string, from: BackupState, to: BackupState, tx?: Tx): Promise<boolean> {
    const [rows] = await this.manager(tx).query(
      `UPDATE backups SET state = $3 WHERE id = $1 AND state = $2 RETURNING id`,
      [id, from, to],
    );
    return rows.length > 0;
  }

  async delete(id: string, tx?: Tx): Promise<void> {
    await this.manager(tx).delete(Backup, { id });
  }

  /** Of `ids`, those that have a row. */
  async existing(ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const rows = await this.query<{ id: string }>(undefined, `SELECT id FROM backups WHERE id = ANY($1::uuid[])`, [
      ids,
    ]);
    return new Set(rows.map((row) => row.id));
  }

  /**
   * Rows left behind by work that ended without finishing them: `failed` and `deleting` ones (a
   * delete runs within its request; the sweep finishing one still running removes nothing twice),
   * and `creating` or `restoring` ones no active operation works on any more (a row and its
   * operation are written in one transaction, so there is no window without one).
   */
  stuck(): Promise<Backup[]> {
    return this.manager()
      .createQueryBuilder(Backup, 'b')
      .where(`b.state IN ('failed', 'deleting')`)
      .orWhere(`b.state IN ('creating', 'restoring') AND NOT ${ACTIVE_WORK_SQL}`)
      .getMany();
  }
}
