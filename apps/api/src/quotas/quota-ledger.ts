import { HttpStatus, Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { AppConfig, QuotaLimits } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { MetricsService } from '../metrics/metrics.service';
import { Quota } from './quota.entity';

export type QuotaResource = keyof QuotaLimits;
export type QuotaRequest = Partial<Record<QuotaResource, number>>;

/**
 * Checks and reserves quota. Callers run `reserve` inside the transaction that
 * writes the VM (or snapshot) row: the row lock on the owner's quota row makes
 * concurrent requests queue, so they can never overcommit together.
 */
@Injectable()
export class QuotaLedger {
  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  async limits(manager: EntityManager, userId: string): Promise<QuotaLimits> {
    const row = await manager.findOneBy(Quota, { userId });
    return this.merge(row);
  }

  async usage(manager: EntityManager, userId: string): Promise<QuotaLimits> {
    const [vms] = await manager.query(
      `SELECT count(*)::int AS vms, coalesce(sum(vcpus), 0)::int AS vcpus, coalesce(sum(memory_mib), 0)::int AS memory, coalesce(sum(disk_gib), 0)::int AS disk
       FROM vms WHERE owner_id = $1`,
      [userId],
    );
    const [snapshots] = await manager.query(`SELECT count(*)::int AS snapshots FROM snapshots WHERE owner_id = $1`, [userId]);
    return { vms: vms.vms, vcpus: vms.vcpus, memoryMiB: vms.memory, diskGiB: vms.disk, snapshots: snapshots.snapshots };
  }

  /** Locks the owner's quota row, then refuses with 403 QUOTA_EXCEEDED if `request` does not fit. */
  async reserve(manager: EntityManager, userId: string, request: QuotaRequest): Promise<void> {
    await manager.query(`INSERT INTO quotas (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING`, [userId]);
    const [row] = await manager.query(`SELECT vms, vcpus, memory_mib AS "memoryMiB", disk_gib AS "diskGiB", snapshots FROM quotas WHERE user_id = $1 FOR UPDATE`, [userId]);
    const limits = this.merge(row);
    const used = await this.usage(manager, userId);
    for (const resource of Object.keys(request) as QuotaResource[]) {
      const requested = request[resource] ?? 0;
      if (requested > 0 && used[resource] + requested > limits[resource]) {
        this.metrics.quotaDenials.inc({ resource });
        throw new AppException(
          HttpStatus.FORBIDDEN,
          ErrorCode.QUOTA_EXCEEDED,
          `Quota exceeded for ${resource}: ${used[resource]} used + ${requested} requested > ${limits[resource]} allowed`,
          { resource, limit: limits[resource], used: used[resource], requested },
        );
      }
    }
  }

  private merge(row: Partial<Record<QuotaResource, number | null>> | null | undefined): QuotaLimits {
    const defaults = this.config.defaultQuota;
    return {
      vms: row?.vms ?? defaults.vms,
      vcpus: row?.vcpus ?? defaults.vcpus,
      memoryMiB: row?.memoryMiB ?? defaults.memoryMiB,
      diskGiB: row?.diskGiB ?? defaults.diskGiB,
      snapshots: row?.snapshots ?? defaults.snapshots,
    };
  }
}
