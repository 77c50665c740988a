import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { QuotaLimits } from '../config/app-config';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { CHARGED_MEMORY_MIB_SQL, CHARGED_VCPUS_SQL } from '../quotas/quota-ledger';

export interface QuotaUsageRow {
  userId: string;
  /** null: the user has no quota row, or no limit there; the default applies. */
  limits: Record<keyof QuotaLimits, number | null>;
  used: Record<keyof QuotaLimits, number>;
}

/**
 * The alert sampler's reads of tables other modules own, until those owners have repositories to
 * hold them (quota usage → QuotaRepository, host status → HostRepository). Statements unchanged.
 */
@Injectable()
export class AlertSampleRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** Per user: their quota limits and what they use, in one statement. */
  quotaUsage(tx: Tx): Promise<QuotaUsageRow[]> {
    return this.query(
      tx,
      `
      SELECT u.id AS "userId",
        json_build_object('vms', q.vms, 'vcpus', q.vcpus, 'memoryMiB', q.memory_mib, 'diskGiB', q.disk_gib, 'snapshots', q.snapshots) AS limits,
        json_build_object('vms', coalesce(v.vms, 0), 'vcpus', coalesce(v.vcpus, 0), 'memoryMiB', coalesce(v.memory, 0), 'diskGiB', coalesce(v.disk, 0) + coalesce(s.mib, 0) / 1024.0, 'snapshots', coalesce(s.snapshots, 0)) AS used
      FROM users u
      LEFT JOIN quotas q ON q.user_id = u.id
      LEFT JOIN (SELECT owner_id, count(*)::int AS vms, sum(${CHARGED_VCPUS_SQL})::int AS vcpus, sum(${CHARGED_MEMORY_MIB_SQL})::bigint AS memory, sum(disk_gib)::int AS disk FROM vms GROUP BY owner_id) v ON v.owner_id = u.id
      LEFT JOIN (SELECT owner_id, count(*)::int AS snapshots, sum(size_mib)::bigint AS mib FROM snapshots GROUP BY owner_id) s ON s.owner_id = u.id`,
    );
  }

  /** Enabled hosts as the host monitor last saw them; a host not checked yet is left out rather than guessed. */
  checkedHostStatuses(tx: Tx): Promise<Array<{ name: string; status: string }>> {
    return this.query(tx, `SELECT name, status FROM hosts WHERE enabled AND status <> 'unknown'`);
  }
}
