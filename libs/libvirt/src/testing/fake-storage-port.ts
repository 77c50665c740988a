import {
  DiskSpec,
  PoolVolumeInfo,
  PoolVolumeSpec,
  SeedIsoVolumeSpec,
  SetResourceResult,
  StoragePoolDefinition,
  StoragePoolInfo,
  VolumeFormat,
  VolumeRef,
} from '../models';
import { FakeDisks } from './fake-disks';
import { FakeFileSystem } from './fake-file-system';
import { FakeNetworkingPort } from './fake-networking-port';
import { FakeStorage } from './fake-storage';

/**
 * The fake's storage pools, volumes and disks of domains (the part of the port added for issue
 * 15), over the files and domains FakeVirtualizationPort keeps.
 */
export abstract class FakeStoragePort extends FakeNetworkingPort {
  /** The hypervisor's files: put images and ISOs here, read disks and seed documents back. */
  readonly files = new FakeFileSystem();
  /** Storage pools over `files`; set `storage.capacityBytes` to run out of space. */
  readonly storage: FakeStorage;
  private readonly disks = new FakeDisks(this.files);

  constructor(capacityBytes: number) {
    super();
    this.storage = new FakeStorage(this.files, capacityBytes);
  }

  // ---- storage ----

  async ensureStoragePool(definition: StoragePoolDefinition): Promise<StoragePoolInfo> {
    return this.storage.ensurePool(definition);
  }

  async listStoragePools(): Promise<StoragePoolInfo[]> {
    return this.storage.listPools();
  }

  async createVolume(spec: PoolVolumeSpec): Promise<PoolVolumeInfo> {
    return this.storage.create(spec);
  }

  async getVolume(ref: VolumeRef, format?: VolumeFormat): Promise<PoolVolumeInfo> {
    return this.storage.info(ref, format);
  }

  async resizeVolume(
    ref: VolumeRef,
    sizeBytes: number,
    options: { allowShrink?: boolean } = {},
  ): Promise<PoolVolumeInfo> {
    const path = this.storage.pathOf(ref);
    const inUse = [...this.domains.values()].some((domain) => domain.live?.disks.some((disk) => disk.path === path));
    return this.storage.resize(ref, sizeBytes, options.allowShrink ?? false, inUse);
  }

  async deleteVolume(ref: VolumeRef): Promise<void> {
    this.storage.delete(ref);
  }

  async cloneVolume(source: VolumeRef, target: VolumeRef): Promise<PoolVolumeInfo> {
    return this.storage.clone(source, target);
  }

  async uploadVolume(ref: VolumeRef, localPath: string, options: { format: VolumeFormat }): Promise<PoolVolumeInfo> {
    return this.storage.upload(ref, localPath, options?.format);
  }

  async downloadVolume(ref: VolumeRef, localPath: string): Promise<void> {
    return this.storage.download(ref, localPath);
  }

  async createSeedIso(spec: SeedIsoVolumeSpec): Promise<PoolVolumeInfo> {
    return this.storage.seed(spec);
  }

  // ---- disks ----

  async attachDisk(vmId: string, disk: DiskSpec): Promise<SetResourceResult> {
    return this.disks.attach(vmId, this.require(vmId), disk);
  }

  async detachDisk(vmId: string, diskId: string): Promise<SetResourceResult> {
    return this.disks.detach(vmId, this.require(vmId), diskId);
  }

  async growDisk(vmId: string, diskId: string, sizeBytes: number): Promise<SetResourceResult> {
    return this.disks.grow(vmId, this.require(vmId), diskId, sizeBytes);
  }
}
