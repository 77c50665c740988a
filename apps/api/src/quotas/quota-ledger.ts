import { HttpStatus, Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { AppConfig, QuotaLimits } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { MetricsService } from '../metrics/metrics.service';
import { Quota } from './quota.entity';

export type QuotaResource = keyof QuotaLimits;
export type QuotaRequest = Partial<Record<QuotaResource, number>>;

/** The vCPUs and memory a VM holds (of its owner's quota and of its host's capacity). */
export interface ComputeCharge {
  vcpus: number;
  memoryMiB: number;
}

/** A VM row's sizes: what it boots with next, and what its running domain booted with (null while not running). */
export interface ComputeSizes extends ComputeCharge {
  runningVcpus: number | null;
  runningMemoryMiB: number | null;
}

/**
 * A VM holds the larger of what it runs with now and what it will boot with next: a resize of a
 * running VM applies at its next boot, and until then the domain may use either.
 */
export function computeCharge(vm: ComputeSizes): ComputeCharge {
  return {
    vcpus: Math.max(vm.vcpus, vm.runningVcpus ?? 0),
    memoryMiB: Math.max(vm.memoryMiB, vm.runningMemoryMiB ?? 0),
  };
}

const MIB = 1024 ** 2;

/**
 * The disk quota a snapshot reserves when asked for: the RAM state it will save, which is the
 * memory a running or paused VM booted with (a stopped VM's snapshot saves none).
 */
export function snapshotReservationMiB(vm: {
  state: string;
  memoryMiB: number;
  runningMemoryMiB: number | null;
}): number {
  return vm.state === 'running' || vm.state === 'paused' ? (vm.runningMemoryMiB ?? vm.memoryMiB) : 0;
}

/** What a snapshot holds once taken: its reservation, or what its VM's disk measurably grew by taking it, if more. */
export function snapshotSizeMiB(reservedMiB: number, diskGrowthBytes: number): number {
  return Math.max(reservedMiB, Math.ceil(Math.max(0, diskGrowthBytes) / MIB));
}

/** Disk GiB in use: the VMs' disks at their virtual sizes, plus the snapshots' sizes (to the MiB, so it may be fractional). */
export function diskUsageGiB(vmDiskGiB: number, snapshotMiB: number): number {
  return vmDiskGiB + snapshotMiB / 1024;
}

/** computeCharge over a `vms` row, for sums in SQL (QuotaLedger.usage, host allocations). */
export const CHARGED_VCPUS_SQL = 'greatest(vcpus, coalesce(running_vcpus, 0))';
export const CHARGED_MEMORY_MIB_SQL = 'greatest(memory_mib, coalesce(running_memory_mib, 0))';

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
      `SELECT count(*)::int AS vms, coalesce(sum(${CHARGED_VCPUS_SQL}), 0)::int AS vcpus, coalesce(sum(${CHARGED_MEMORY_MIB_SQL}), 0)::int AS memory, coalesce(sum(disk_gib), 0)::int AS disk
       FROM vms WHERE owner_id = $1`,
      [userId],
    );
    const [snapshots] = await manager.query(
      `SELECT count(*)::int AS snapshots, coalesce(sum(size_mib), 0)::int AS mib FROM snapshots WHERE owner_id = $1`,
      [userId],
    );
    return {
      vms: vms.vms,
      vcpus: vms.vcpus,
      memoryMiB: vms.memory,
      diskGiB: diskUsageGiB(vms.disk, snapshots.mib),
      snapshots: snapshots.snapshots,
    };
  }

  /** Locks the owner's quota row, then refuses with 403 QUOTA_EXCEEDED if `request` does not fit. */
  async reserve(manager: EntityManager, userId: string, request: QuotaRequest): Promise<void> {
    await manager.query(`INSERT INTO quotas (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING`, [userId]);
    const [row] = await manager.query(
      `SELECT vms, vcpus, memory_mib AS "memoryMiB", disk_gib AS "diskGiB", snapshots FROM quotas WHERE user_id = $1 FOR UPDATE`,
      [userId],
    );
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

  /**
   * Reserves what resizing `vm` to `next` adds to its charge (nothing when it shrinks: a running
   * VM keeps holding what it booted with until it stops), and returns that growth.
   */
  async reserveResize(
    manager: EntityManager,
    vm: ComputeSizes & { ownerId: string },
    next: ComputeCharge,
  ): Promise<ComputeCharge> {
    const before = computeCharge(vm);
    const after = computeCharge({ ...vm, ...next });
    const growth = { vcpus: after.vcpus - before.vcpus, memoryMiB: after.memoryMiB - before.memoryMiB };
    await this.reserve(manager, vm.ownerId, {
      vcpus: Math.max(0, growth.vcpus),
      memoryMiB: Math.max(0, growth.memoryMiB),
    });
    return growth;
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
