import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { QuotaLimits } from '../config/app-config';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { Quota } from './quota.entity';

/** computeCharge over a `vms` row, for sums in SQL (quota usage, host allocations). */
export const CHARGED_VCPUS_SQL = 'greatest(vcpus, coalesce(running_vcpus, 0))';
export const CHARGED_MEMORY_MIB_SQL = 'greatest(memory_mib, coalesce(running_memory_mib, 0))';

/** The bytes a user ($1) holds in backups (any not failed) and templates: what `backupGiB` counts. */
const BACKUP_BYTES_SQL = `(SELECT coalesce(sum(size_bytes), 0) FROM backups WHERE owner_id = $1 AND state <> 'failed')
  + (SELECT coalesce(sum(size_bytes), 0) FROM images WHERE owner_id = $1)`;

/** A user's overrides as stored: null (or no row) means the configured default. */
export type QuotaOverrides = Partial<Record<keyof QuotaLimits, number | null>>;

/** One user's quota overrides and usage, per resource (QuotaLimits' keys), as the alert sampler reads them. */
export interface QuotaUsageRow {
  userId: string;
  /** null: no override (or no quota row); the default applies. */
  limits: Record<keyof QuotaLimits, number | null>;
  used: Record<keyof QuotaLimits, number>;
}

/** What a user holds: their VMs (charged as computeCharge says) and their snapshots. */
export interface QuotaHoldings {
  vms: number;
  vcpus: number;
  memoryMiB: number;
  vmDiskGiB: number;
  snapshots: number;
  snapshotMiB: number;
  /** Bytes of their backups (any not failed) and templates in the stores. */
  backupBytes: number;
}

/** The one owner of the `quotas` table's SQL, and of the usage question (which reads `vms` and `snapshots`). */
@Injectable()
export class QuotaRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  overrides(userId: string, tx?: Tx): Promise<Quota | null> {
    return this.manager(tx).findOneBy(Quota, { userId });
  }

  /** The user's overrides, their row created if missing and locked until `tx` ends: concurrent reservations queue here. */
  async lockOverrides(tx: Tx, userId: string): Promise<QuotaOverrides> {
    await this.insertIfMissing(tx, userId);
    const [row] = await this.query<QuotaOverrides>(
      tx,
      `SELECT vms, vcpus, memory_mib AS "memoryMiB", disk_gib AS "diskGiB", snapshots, backup_gib AS "backupGiB" FROM quotas WHERE user_id = $1 FOR UPDATE`,
      [userId],
    );
    return row;
  }

  async holdings(userId: string, tx?: Tx): Promise<QuotaHoldings> {
    const [vms] = await this.query<{ vms: number; vcpus: number; memory: number; disk: number }>(
      tx,
      `SELECT count(*)::int AS vms, coalesce(sum(${CHARGED_VCPUS_SQL}), 0)::int AS vcpus, coalesce(sum(${CHARGED_MEMORY_MIB_SQL}), 0)::int AS memory, coalesce(sum(disk_gib), 0)::int AS disk
       FROM vms WHERE owner_id = $1`,
      [userId],
    );
    const [snapshots] = await this.query<{ snapshots: number; mib: number }>(
      tx,
      `SELECT count(*)::int AS snapshots, coalesce(sum(size_mib), 0)::int AS mib FROM snapshots WHERE owner_id = $1`,
      [userId],
    );
    const [copies] = await this.query<{ bytes: string }>(tx, `SELECT ${BACKUP_BYTES_SQL} AS bytes`, [userId]);
    return {
      vms: vms.vms,
      vcpus: vms.vcpus,
      memoryMiB: vms.memory,
      vmDiskGiB: vms.disk,
      snapshots: snapshots.snapshots,
      snapshotMiB: snapshots.mib,
      backupBytes: Number(copies.bytes),
    };
  }

  /** Sets the given overrides (undefined members are left as they are). */
  async setOverrides(tx: Tx, userId: string, changes: QuotaOverrides): Promise<void> {
    await this.insertIfMissing(tx, userId);
    const set = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
    if (Object.keys(set).length) await this.manager(tx).update(Quota, { userId }, set);
  }

  private async insertIfMissing(tx: Tx, userId: string): Promise<void> {
    await this.query(tx, `INSERT INTO quotas (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING`, [userId]);
  }

  /** Every user's overrides and usage in one statement (the alert sampler's quota metric), in `tx`. */
  usageOfEveryUser(tx: Tx): Promise<QuotaUsageRow[]> {
    return this.query(
      tx,
      `
      SELECT u.id AS "userId",
        json_build_object('vms', q.vms, 'vcpus', q.vcpus, 'memoryMiB', q.memory_mib, 'diskGiB', q.disk_gib, 'snapshots', q.snapshots, 'backupGiB', q.backup_gib) AS limits,
        json_build_object('vms', coalesce(v.vms, 0), 'vcpus', coalesce(v.vcpus, 0), 'memoryMiB', coalesce(v.memory, 0), 'diskGiB', coalesce(v.disk, 0) + coalesce(s.mib, 0) / 1024.0, 'snapshots', coalesce(s.snapshots, 0), 'backupGiB', (coalesce(b.bytes, 0) + coalesce(i.bytes, 0)) / 1073741824.0) AS used
      FROM users u
      LEFT JOIN quotas q ON q.user_id = u.id
      LEFT JOIN (SELECT owner_id, count(*)::int AS vms, sum(${CHARGED_VCPUS_SQL})::int AS vcpus, sum(${CHARGED_MEMORY_MIB_SQL})::bigint AS memory, sum(disk_gib)::int AS disk FROM vms GROUP BY owner_id) v ON v.owner_id = u.id
      LEFT JOIN (SELECT owner_id, count(*)::int AS snapshots, sum(size_mib)::bigint AS mib FROM snapshots GROUP BY owner_id) s ON s.owner_id = u.id
      LEFT JOIN (SELECT owner_id, sum(size_bytes) AS bytes FROM backups WHERE state <> 'failed' GROUP BY owner_id) b ON b.owner_id = u.id
      LEFT JOIN (SELECT owner_id, sum(size_bytes) AS bytes FROM images WHERE owner_id IS NOT NULL GROUP BY owner_id) i ON i.owner_id = u.id`,
    );
  }
}
