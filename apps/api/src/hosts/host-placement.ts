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
   * memory wins, hosts in maintenance are skipped. An admin may name one, which must be enabled,
   * up and have room (maintenance aside).
   */
  async place(tx: Tx, request: Room, requestedHostId?: string): Promise<string> {
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
      return host.id;
    }
    const candidates = hosts
      .filter((h) => !h.maintenance && fits(h))
      .sort((a, b) => free(b).memoryMiB - free(a).memoryMiB);
    if (!candidates.length)
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.INSUFFICIENT_CAPACITY,
        'No enabled host has room for this VM',
      );
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
    if (diskBytes * 100 > available * this.config.diskOvercommitPercent) {
      throw new AppException(
        HttpStatus.INSUFFICIENT_STORAGE,
        ErrorCode.INSUFFICIENT_STORAGE,
        `The host has no room for a disk of ${Math.ceil(diskBytes / GIB)} GiB`,
      );
    }
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
