import { HttpStatus, Injectable } from '@nestjs/common';
import { HypervisorError, StoragePoolDefinition, StoragePoolInfo } from '@limen/libvirt';
import { AppException, ErrorCode } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { effectiveStoragePath, isOnApiMachine } from './host-locality';
import { HostPorts } from './host-ports';

/** A pool that vanished from its host (undefined by hand, libvirtd state lost): define it again. */
function poolGone(error: unknown): boolean {
  return (
    HypervisorError.is(error, 'VOLUME_NOT_FOUND') || (error as { code?: string })?.code === 'STORAGE_POOL_NOT_FOUND'
  );
}

/**
 * The storage pools of each host: its VM pool (`limen-vms`, over VM_DIR on the api's machine,
 * over `hosts.storage_path` elsewhere) and, on the api's machine, the image pool over IMAGE_DIR.
 * A pool is ensured on its host on first use in this process and remembered; `withVmPool` ensures
 * it again when the host answers that it is gone.
 */
@Injectable()
export class HostStorage {
  private readonly ensured = new Map<string, Promise<StoragePoolInfo>>();

  constructor(
    private readonly config: AppConfig,
    private readonly ports: HostPorts,
  ) {}

  /** Whether the host sees the api's folders (VM_DIR, IMAGE_DIR): see isOnApiMachine. Null: VMs from before hosts. */
  isLocal(hostId: string | null): boolean {
    if (hostId === null || hostId === this.ports.localId) return true;
    const host = this.ports.host(hostId);
    return !!host && isOnApiMachine(host, this.config);
  }

  /** The VM pool's definition for a host (without asking the host): see effectiveStoragePath. */
  vmPoolDefinition(hostId: string | null): StoragePoolDefinition {
    const host = hostId === null ? undefined : this.ports.host(hostId);
    const path = host ? effectiveStoragePath(host, this.config) : this.config.hypervisor.vmDir;
    return { name: this.config.hypervisor.vmPool, type: 'dir', path };
  }

  /** The host's VM pool, defined and active. */
  vmPool(hostId: string | null): Promise<StoragePoolInfo> {
    return this.ensure(hostId, this.vmPoolDefinition(hostId));
  }

  /**
   * The pool of the images VMs are made from: IMAGE_DIR in place, on a host that sees it. Other
   * hosts have no copy of the images: 409 CONFLICT, until images are distributed to them.
   */
  async imagePool(hostId: string | null): Promise<StoragePoolInfo> {
    if (!this.isLocal(hostId))
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.CONFLICT,
        "This host has no copy of LIMEN's images yet: create the VM on a host of the api's own machine",
      );
    const { imagePool, imageDir } = this.config.hypervisor;
    return this.ensure(hostId, { name: imagePool, type: 'dir', path: imageDir });
  }

  /** Runs `work` with the host's VM pool; once more after defining the pool again if the host lost it. */
  async withVmPool<T>(hostId: string | null, work: (pool: StoragePoolInfo) => Promise<T>): Promise<T> {
    const pool = await this.vmPool(hostId);
    try {
      return await work(pool);
    } catch (error) {
      if (!poolGone(error)) throw error;
      this.forget(hostId);
      return work(await this.vmPool(hostId));
    }
  }

  /** The VM pool as its host reports it now (capacity, allocation, available bytes). */
  async vmPoolNow(hostId: string | null): Promise<StoragePoolInfo> {
    const { name } = await this.vmPool(hostId);
    const listed = (await this.ports.forVm({ hostId }).listStoragePools()).find((pool) => pool.name === name);
    if (listed) return listed;
    this.forget(hostId);
    return this.vmPool(hostId);
  }

  /** Forgets what was ensured on a host, so the next use defines its pools again. */
  forget(hostId: string | null): void {
    for (const key of [...this.ensured.keys()]) if (key.startsWith(`${hostId ?? ''}|`)) this.ensured.delete(key);
  }

  private ensure(hostId: string | null, definition: StoragePoolDefinition): Promise<StoragePoolInfo> {
    const key = `${hostId ?? ''}|${definition.name}|${definition.path}`;
    let pool = this.ensured.get(key);
    if (!pool) {
      pool = this.ports.forVm({ hostId }).ensureStoragePool(definition);
      this.ensured.set(key, pool);
      // A failure is not remembered: the next use asks the host again.
      pool.catch(() => this.ensured.get(key) === pool && this.ensured.delete(key));
    }
    return pool;
  }
}
