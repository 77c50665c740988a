import { HttpStatus, Injectable } from '@nestjs/common';
import { AppException, ErrorCode } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { Tx } from '../database/transaction';
import { VmRepository } from '../vms/vm.repository';
import { HostAgents } from './host-agents';
import { HostStorage } from './host-storage';
import { CapacityHost, HostRepository } from './host.repository';
import { invalidField } from './invalid-field';

const GIB = 1024 ** 3;

export interface Room {
  vcpus: number;
  memoryMiB: number;
}

/** What a new VM needs of its host: CPUs, memory, and room for its disks in the host's VM pool. */
export interface PlacementRequest extends Room {
  diskBytes?: number;
}

/**
 * Where new VMs go and whether a host has room for more: a host's capacity is its CPUs and memory
 * times the overcommit ratios, minus what its VMs already hold, and never more memory than its
 * agent last reported available.
 */
@Injectable()
export class HostPlacement {
  constructor(
    private readonly config: AppConfig,
    private readonly hosts: HostRepository,
    private readonly vms: VmRepository,
    private readonly storage: HostStorage,
    private readonly agents: HostAgents,
  ) {}

  /**
   * Chooses the host for a new VM inside the caller's transaction; the host with the most free
   * memory wins, hosts in maintenance are skipped, and so are hosts whose VM pool had no room for
   * `diskBytes` when the monitor last read it (507 INSUFFICIENT_STORAGE when that leaves none; a
   * pool never read yet is left to assertStorageRoom). An admin may name one, which must be
   * enabled, up and have room (maintenance aside).
   */
  async place(tx: Tx, request: PlacementRequest, requestedHostId?: string): Promise<string> {
    const { hosts, free } = await this.capacity(tx);
    const fits = (host: CapacityHost) =>
      host.enabled &&
      host.status === 'up' &&
      free(host).vcpus >= request.vcpus &&
      free(host).memoryMiB >= request.memoryMiB;
    if (requestedHostId) {
      const host = hosts.find((h) => h.id === requestedHostId);
      if (!host) throw invalidField('hostId', 'hostId does not name a registered host');
      if (!fits(host))
        throw new AppException(
          HttpStatus.CONFLICT,
          ErrorCode.INSUFFICIENT_CAPACITY,
          `Host ${host.name} is ${host.enabled ? host.status : 'disabled'} or lacks room for this VM`,
        );
      if (!this.hadDiskRoom(host, request.diskBytes))
        throw this.noDiskRoom(`Host ${host.name} has no`, request.diskBytes!);
      return host.id;
    }
    const roomy = hosts.filter((h) => !h.maintenance && fits(h));
    const candidates = roomy
      .filter((h) => this.hadDiskRoom(h, request.diskBytes))
      .sort((a, b) => free(b).memoryMiB - free(a).memoryMiB);
    if (!candidates.length) {
      if (roomy.length) throw this.noDiskRoom('No enabled host has', request.diskBytes!);
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.INSUFFICIENT_CAPACITY,
        'No enabled host has room for this VM',
      );
    }
    return candidates[0].id;
  }

  /**
   * A resize that makes a VM hold `growth` more on its host passes the same capacity check as a
   * placement there, inside the caller's transaction (409 INSUFFICIENT_CAPACITY otherwise). A
   * resource that does not grow is not checked: shrinking never needs room.
   */
  async assertRoomToGrow(tx: Tx, hostId: string | null, growth: Room): Promise<void> {
    if (growth.vcpus <= 0 && growth.memoryMiB <= 0) return;
    const { hosts, free } = await this.capacity(tx);
    const host = hosts.find((h) => h.id === hostId);
    if (!host)
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INSUFFICIENT_CAPACITY, 'The VM has no host to grow on');
    const room = free(host);
    if (
      !host.enabled ||
      host.status !== 'up' ||
      (growth.vcpus > 0 && room.vcpus < growth.vcpus) ||
      (growth.memoryMiB > 0 && room.memoryMiB < growth.memoryMiB)
    ) {
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.INSUFFICIENT_CAPACITY,
        `Host ${host.name} is ${host.enabled ? host.status : 'disabled'} or lacks room for this VM's new size`,
      );
    }
  }

  /**
   * A new disk must fit in what the host's VM pool has available now, at its full virtual size
   * times DISK_OVERCOMMIT_PERCENT / 100 (507 INSUFFICIENT_STORAGE otherwise). Disks are thin and
   * nothing is set aside: this refuses what the host could never hold, it does not promise room
   * for what others write.
   */
  async assertStorageRoom(hostId: string, diskBytes: number): Promise<void> {
    const available = (await this.storage.vmPoolNow(hostId)).availableBytes;
    if (!this.diskFits(diskBytes, available)) throw this.noDiskRoom('The host has no', diskBytes);
  }

  /** Whether the host's VM pool had room for the disks at the monitor's last reading; never read counts as room. */
  private hadDiskRoom(host: CapacityHost, diskBytes: number | undefined): boolean {
    if (diskBytes === undefined) return true;
    const pool = host.storage?.pools.find((p) => p.name === this.config.hypervisor.vmPool);
    return !pool || this.diskFits(diskBytes, pool.availableBytes);
  }

  private diskFits(diskBytes: number, availableBytes: number): boolean {
    return diskBytes * 100 <= availableBytes * this.config.diskOvercommitPercent;
  }

  /** 507, its detail `${lacking} room for a disk of N GiB`. */
  private noDiskRoom(lacking: string, diskBytes: number): AppException {
    return new AppException(
      HttpStatus.INSUFFICIENT_STORAGE,
      ErrorCode.INSUFFICIENT_STORAGE,
      `${lacking} room for a disk of ${Math.ceil(diskBytes / GIB)} GiB`,
    );
  }

  /** The hosts, locked until `tx` ends so concurrent placements see each other's allocations, and what each has free. */
  private async capacity(tx: Tx): Promise<{ hosts: CapacityHost[]; free: (host: CapacityHost) => Room }> {
    const hosts = await this.hosts.lockForPlacement(tx);
    const allocations = await this.vms.allocationsByHost(tx);
    const free = (host: CapacityHost): Room => {
      const used = allocations.get(host.id) ?? { vcpus: 0, memoryMiB: 0, vms: 0 };
      const byAllocation =
        Math.floor(((host.memoryMiB ?? 0) * this.config.memoryOvercommitPercent) / 100) - used.memoryMiB;
      return {
        vcpus: Math.floor(((host.cpus ?? 0) * this.config.cpuOvercommitPercent) / 100) - used.vcpus,
        memoryMiB: Math.min(byAllocation, this.agents.lastAvailableMiB(host.id) ?? Number.POSITIVE_INFINITY),
      };
    };
    return { hosts, free };
  }
}
