import type { SeedIsoDocuments } from './seed-iso';
import type { VolumeFormat } from './volume';

/**
 * Storage pools: where a host keeps LIMEN's volumes (disks, seed ISOs, cached images). The api
 * addresses volumes by pool and name only, so a host reached over a remote URI needs no folder
 * shared with the api. Only `dir` pools are created; `logical` and `netfs` are documented in
 * docs/operations.md.
 */
export type StoragePoolType = 'dir' | 'logical' | 'netfs';

export interface StoragePoolDefinition {
  /** `limen-…` (see naming/storage-name). */
  name: string;
  type: 'dir';
  /** Absolute folder on the host; the api checks it against STORAGE_ROOTS first. */
  path: string;
}

export interface StoragePoolInfo {
  name: string;
  type: StoragePoolType | string;
  /** The pool's target folder on the host. */
  path: string;
  active: boolean;
  autostart: boolean;
  capacityBytes: number;
  allocationBytes: number;
  availableBytes: number;
}

/** A volume in a storage pool. Names are flat (no `/`): see naming/storage-name. */
export interface VolumeRef {
  pool: string;
  name: string;
}

export interface PoolVolumeSpec extends VolumeRef {
  /** Virtual size. Required without a backing volume; with one, defaults to the backing size. */
  sizeBytes?: number;
  /** Default qcow2. */
  format?: VolumeFormat;
  /**
   * Copy-on-write over this volume of the same host (never written to). Its format is given, never
   * probed from its content (a raw image whose bytes look like a qcow2 header could name other files).
   */
  backing?: VolumeRef & { format: VolumeFormat };
}

export interface PoolVolumeInfo extends VolumeRef {
  /** The volume's path on its host: what a domain definition names. */
  path: string;
  format: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  backingPath?: string;
}

/** A cloud-init seed written as a volume. */
export type SeedIsoVolumeSpec = VolumeRef & SeedIsoDocuments;

/** One disk of a running domain, copied by a disk backup into a new qcow2 volume of its host. */
export interface DiskBackupTarget {
  /** The disk's LIMEN id (DiskSpec.id). */
  diskId: string;
  /** Created by the backup in one of the host's pools; must not exist yet (VOLUME_EXISTS). */
  target: VolumeRef;
}

export interface VolumeExportOptions {
  /** Write compressed clusters (`qemu-img convert -c`): what a backup stores. */
  compress: boolean;
  /** The state of this internal snapshot instead of the current one; readable while the domain runs. */
  snapshot?: string;
}

/** The standalone qcow2 file exportVolume wrote. */
export interface VolumeExportInfo {
  /** The file's size in bytes. */
  sizeBytes: number;
  /** The disk's size as the guest sees it. */
  virtualSizeBytes: number;
}
