import { HttpStatus, Injectable } from '@nestjs/common';
import { AppConfig, QuotaLimits } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { Tx } from '../database/transaction';
import { MetricsService } from '../metrics/metrics.service';
import { QuotaOverrides, QuotaRepository } from './quota.repository';

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
const GIB = 1024 ** 3;

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
    private readonly quotas: QuotaRepository,
  ) {}

  async limits(userId: string, tx?: Tx): Promise<QuotaLimits> {
    return this.merge(await this.quotas.overrides(userId, tx));
  }

  async usage(userId: string, tx?: Tx): Promise<QuotaLimits> {
    const held = await this.quotas.holdings(userId, tx);
    return {
      vms: held.vms,
      vcpus: held.vcpus,
      memoryMiB: held.memoryMiB,
      diskGiB: diskUsageGiB(held.vmDiskGiB, held.snapshotMiB),
      snapshots: held.snapshots,
      backupGiB: held.backupBytes / GIB,
    };
  }

  /** Locks the owner's quota row, then refuses with 403 QUOTA_EXCEEDED if `request` does not fit. */
  async reserve(tx: Tx, userId: string, request: QuotaRequest): Promise<void> {
    const limits = this.merge(await this.quotas.lockOverrides(tx, userId));
    const used = await this.usage(userId, tx);
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
  async reserveResize(tx: Tx, vm: ComputeSizes & { ownerId: string }, next: ComputeCharge): Promise<ComputeCharge> {
    const before = computeCharge(vm);
    const after = computeCharge({ ...vm, ...next });
    const growth = { vcpus: after.vcpus - before.vcpus, memoryMiB: after.memoryMiB - before.memoryMiB };
    await this.reserve(tx, vm.ownerId, {
      vcpus: Math.max(0, growth.vcpus),
      memoryMiB: Math.max(0, growth.memoryMiB),
    });
    return growth;
  }

  private merge(row: QuotaOverrides | null | undefined): QuotaLimits {
    const defaults = this.config.defaultQuota;
    return {
      vms: row?.vms ?? defaults.vms,
      vcpus: row?.vcpus ?? defaults.vcpus,
      memoryMiB: row?.memoryMiB ?? defaults.memoryMiB,
      diskGiB: row?.diskGiB ?? defaults.diskGiB,
      snapshots: row?.snapshots ?? defaults.snapshots,
      backupGiB: row?.backupGiB ?? defaults.backupGiB,
    };
  }
}
