import { Duplex } from 'node:stream';
import { Observable } from 'rxjs';
import {
  ConsoleType,
  DomainEvent,
  DomainInfo,
  DomainSpec,
  DomainStats,
  AddressSource,
  DhcpLease,
  GuestExecResult,
  GuestInfo,
  HostCapabilities,
  InterfaceAddress,
  NetworkDefinition,
  NetworkInfo,
  NicSpec,
  PortForwardSpec,
  DiskBackupTarget,
  DiskSpec,
  PoolVolumeInfo,
  PoolVolumeSpec,
  SeedIsoVolumeSpec,
  SerialConsoleInfo,
  SetResourceResult,
  SnapshotCreateSpec,
  SnapshotInfo,
  StoragePoolDefinition,
  StoragePoolInfo,
  VncEndpoint,
  VolumeExportInfo,
  VolumeExportOptions,
  VolumeFormat,
  VolumeRef,
} from '../models';

/** DI token under which LibvirtModule provides the configured adapter. */
export const VIRTUALIZATION_PORT = Symbol('VIRTUALIZATION_PORT');

export interface UndefineOptions {
  /**
   * Delete the domain's disk volumes and its serial log (not CD-ROM media, which may be shared
   * images), through the host's storage pools, so a remote host is cleaned up too.
   */
  removeVolumes?: boolean;
  /** Delete the seed ISO volume attached with `seedIsoPath`. */
  removeSeedIso?: boolean;
  /** Delete the UEFI variable store, if any. */
  removeNvram?: boolean;
}

export interface ShutdownOptions {
  /** How long to wait for the guest to power off after the ACPI request. Default 60 s. */
  timeoutMs?: number;
  /** Destroy (power off hard) when the guest did not stop in time, instead of failing. */
  forceAfterTimeout?: boolean;
}

export interface ShutdownResult {
  /** True when the guest did not stop by itself and was destroyed. */
  forced: boolean;
}

/**
 * Everything the api may do to a hypervisor. Domains are addressed by LIMEN VM id; adapters
 * derive the domain name (`limen-<vmId>`). Every method rejects with HypervisorError.
 */
export interface VirtualizationPort {
  getHostCapabilities(): Promise<HostCapabilities>;

  /** LIMEN domains only (those carrying LIMEN metadata). */
  listDomains(): Promise<DomainInfo[]>;
  /** Rejects with DOMAIN_NOT_FOUND when the domain does not exist. */
  getDomain(vmId: string): Promise<DomainInfo>;
  /** Creates the persistent definition (does not start it). DOMAIN_EXISTS if already defined. */
  defineDomain(spec: DomainSpec): Promise<DomainInfo>;
  /**
   * Replaces the persistent definition of an existing LIMEN domain with one built from `spec`
   * (same vmId; the whole definition is rewritten, so pass the complete spec). Disks, snapshots
   * and the domain's UUID are kept; a running guest keeps running on its current configuration
   * and the new one applies from its next cold boot (a guest reboot is not enough). Without
   * `spec.virtType` the domain keeps its current virt type. Resolves to the new definition with
   * the domain's current state. DOMAIN_NOT_FOUND if the domain does not exist; INVALID_ARGUMENT
   * if it belongs to another owner (the owner of a domain never changes) or the spec is invalid.
   */
  redefineDomain(spec: DomainSpec): Promise<DomainInfo>;
  /** Removes a stopped domain's definition, its snapshots metadata, and files on request. */
  undefineDomain(vmId: string, options?: UndefineOptions): Promise<void>;

  start(vmId: string): Promise<void>;
  shutdown(vmId: string, options?: ShutdownOptions): Promise<ShutdownResult>;
  destroy(vmId: string): Promise<void>;
  /** Guest-cooperative reboot (ACPI). */
  reboot(vmId: string): Promise<void>;
  /** Hard reset, like pressing the reset button. */
  reset(vmId: string): Promise<void>;
  suspend(vmId: string): Promise<void>;
  resume(vmId: string): Promise<void>;

  /** Config always; live too when the domain runs and the value fits the maximum. */
  setVcpus(vmId: string, vcpus: number): Promise<SetResourceResult>;
  setMemory(vmId: string, memoryMiB: number): Promise<SetResourceResult>;

  /** Needs a CD-ROM drive in the spec (`cdrom`); INVALID_STATE otherwise. */
  insertCdrom(vmId: string, isoPath: string): Promise<void>;
  ejectCdrom(vmId: string): Promise<void>;

  /** Internal qcow2 snapshot; includes memory state when the domain runs. */
  createSnapshot(vmId: string, spec: SnapshotCreateSpec): Promise<SnapshotInfo>;
  listSnapshots(vmId: string): Promise<SnapshotInfo[]>;
  revertSnapshot(vmId: string, name: string): Promise<void>;
  deleteSnapshot(vmId: string, name: string): Promise<void>;

  /**
   * Starts a point-in-time copy of a running or paused domain's disks into new qcow2 volumes of its
   * host (libvirt: backup-begin in push mode; qemu-direct: QMP blockdev-backup, sync full, in one
   * transaction). Resolves once the point in time is fixed: a guest frozen for the backup may be
   * thawed then, while the copy goes on. INVALID_STATE when the domain does not run, BUSY while
   * another backup of it runs, VOLUME_EXISTS for an existing target, INVALID_ARGUMENT for an
   * unknown disk id.
   */
  beginDiskBackup(vmId: string, targets: DiskBackupTarget[]): Promise<void>;
  /**
   * Resolves when the domain's disk backup has completed and its targets hold the whole copy;
   * rejects with OPERATION_FAILED when it failed, was aborted or is not known (after a restart of
   * the hypervisor: the caller starts over), TIMEOUT after `timeoutMs` (default: none).
   */
  waitDiskBackup(vmId: string, options?: { timeoutMs?: number }): Promise<void>;
  /** Stops a running disk backup (its targets are left for the caller to delete); none running is fine. */
  abortDiskBackup(vmId: string): Promise<void>;

  /** Stats of one domain. */
  getStats(vmId: string): Promise<DomainStats>;
  /** Stats of all LIMEN domains in one hypervisor call. */
  getAllStats(): Promise<DomainStats[]>;

  /** null when the domain has no VNC or is not running. */
  getVncEndpoint(vmId: string): Promise<VncEndpoint | null>;
  getSerialConsole(vmId: string): Promise<SerialConsoleInfo>;
  /**
   * The last `maxBytes` (default 64 KiB) of the serial log, decoded as UTF-8: the local file, or
   * through the storage pool holding it when the host is remote.
   */
  tailSerialLog(vmId: string, maxBytes?: number): Promise<string>;
  /** PNG image of the primary display. The domain must be running. */
  screenshot(vmId: string): Promise<Buffer>;
  /**
   * A byte stream to the running domain's console: its first serial port, or its VNC server
   * (RFB, unauthenticated beyond the domain's VNC password). INVALID_STATE when the domain has
   * no such console now (not running, VNC disabled). Destroying the stream closes the console.
   */
  openConsole(vmId: string, type: ConsoleType): Promise<Duplex>;

  /**
   * Defines, builds (mkdir), starts and autostarts a `dir` pool unless an identical one is already
   * active; resolves with it active. STORAGE_CONFLICT when a pool of that name has another path,
   * or another pool already uses the path.
   */
  ensureStoragePool(definition: StoragePoolDefinition): Promise<StoragePoolInfo>;
  /** LIMEN pools (names starting `limen-`) with capacity, allocation and available bytes (refreshed). */
  listStoragePools(): Promise<StoragePoolInfo[]>;
  /**
   * An empty volume of `sizeBytes` (qcow2 unless `format` says raw), or a copy-on-write qcow2
   * overlay over `backing` (a volume of the same host, read as its given format only).
   * VOLUME_EXISTS; VOLUME_NOT_FOUND when the pool or the backing volume is missing.
   */
  createVolume(spec: PoolVolumeSpec): Promise<PoolVolumeInfo>;
  /** VOLUME_NOT_FOUND. With `format` the volume is read as that format only, never probed. */
  getVolume(ref: VolumeRef, format?: VolumeFormat): Promise<PoolVolumeInfo>;
  /**
   * Grows (or, with `allowShrink`, shrinks) the virtual size of a volume no running domain uses
   * (INVALID_STATE otherwise: growDisk is the way for a running one).
   */
  resizeVolume(ref: VolumeRef, sizeBytes: number, options?: { allowShrink?: boolean }): Promise<PoolVolumeInfo>;
  /** Idempotent: deleting a missing volume succeeds. */
  deleteVolume(ref: VolumeRef): Promise<void>;
  /** A full copy of `source` as `target`, in the same pool (virsh vol-clone). VOLUME_EXISTS. */
  cloneVolume(source: VolumeRef, target: VolumeRef): Promise<PoolVolumeInfo>;
  /**
   * Creates `ref` and fills it with the bytes of the local file `localPath` (virsh vol-upload), of
   * the given format. VOLUME_EXISTS. On failure nothing is left behind.
   */
  uploadVolume(ref: VolumeRef, localPath: string, options: { format: VolumeFormat }): Promise<PoolVolumeInfo>;
  /** Writes the volume's bytes to the local file `localPath` (virsh vol-download). VOLUME_NOT_FOUND. */
  downloadVolume(ref: VolumeRef, localPath: string): Promise<void>;
  /**
   * Writes a standalone qcow2 of the volume (its backing chain merged in; optionally compressed, or
   * the state of one internal snapshot) to the local file `localPath`, mode 0600, replacing it only
   * once complete (a failure leaves no partial file there). A volume in use by a running domain is
   * readable only through `snapshot` (INVALID_STATE otherwise: beginDiskBackup is the way).
   * VOLUME_NOT_FOUND, SNAPSHOT_NOT_FOUND; UNSUPPORTED for `snapshot` on a host the api cannot read
   * directly.
   */
  exportVolume(source: VolumeRef, localPath: string, options: VolumeExportOptions): Promise<VolumeExportInfo>;
  /**
   * Writes a cloud-init NoCloud seed ISO (label `cidata`) locally, in a scratch folder, and
   * uploads it as the raw volume `ref`, replacing any previous one (for `DomainSpec.seedIsoPath`).
   */
  createSeedIso(spec: SeedIsoVolumeSpec): Promise<PoolVolumeInfo>;

  /**
   * Adds a disk (a DiskSpec with `id`) to the definition and, when the domain runs, to the guest
   * (hot-plug; virtio and scsi). DOMAIN_NOT_FOUND; INVALID_ARGUMENT for a missing or duplicate
   * id, a duplicate path, or one disk too many.
   */
  attachDisk(vmId: string, disk: DiskSpec): Promise<SetResourceResult>;
  /** Removes a disk by its LIMEN id, live too when running; the volume itself is not deleted. */
  detachDisk(vmId: string, diskId: string): Promise<SetResourceResult>;
  /**
   * Grows a disk by its LIMEN id to `sizeBytes`: live (blockresize, QMP block_resize) when the
   * domain runs, otherwise its volume. INVALID_ARGUMENT for a smaller size.
   */
  growDisk(vmId: string, diskId: string, sizeBytes: number): Promise<SetResourceResult>;

  /**
   * Defines, starts and autostarts a LIMEN network (nat or isolated) unless an identical one is
   * already active; resolves with it active. NETWORK_CONFLICT when its subnet or bridge clashes
   * with something on the host, or a network of that name exists with another definition;
   * UNSUPPORTED where the adapter has no managed networks (qemu-direct).
   */
  ensureNetwork(definition: NetworkDefinition): Promise<NetworkInfo>;
  /** Stops and undefines a LIMEN network. Idempotent. NETWORK_IN_USE while a running domain uses it. */
  removeNetwork(name: string): Promise<void>;
  /** LIMEN networks (names starting `limen-net-`) defined on the host. */
  listNetworks(): Promise<NetworkInfo[]>;
  /** IPv4 subnets the host already reaches directly or routes (CIDR strings), for overlap checks. */
  listHostRoutes(): Promise<string[]>;
  /** Whether a host bridge of that name exists (for `bridge` attachments). */
  hasBridge(name: string): Promise<boolean>;
  /** Current DHCP leases of a LIMEN network. */
  getDhcpLeases(network: string): Promise<DhcpLease[]>;

  /**
   * Adds a NIC to the definition and, when the domain runs, to the guest (hot-plug). A NIC that
   * cannot be hot-plugged (user-mode NICs) on a running domain is INVALID_STATE with the reason,
   * and nothing changes. DOMAIN_NOT_FOUND; INVALID_ARGUMENT for a duplicate id or MAC.
   */
  attachNic(vmId: string, nic: NicSpec): Promise<SetResourceResult>;
  /** Removes a NIC by its LIMEN id, live too when running (same limits as attachNic). */
  detachNic(vmId: string, nicId: string): Promise<SetResourceResult>;
  /** Adds a forward to a user-mode NIC: in the definition, and live when the domain runs. */
  addPortForward(vmId: string, nicId: string, forward: PortForwardSpec): Promise<SetResourceResult>;
  /** Removes it again; removing a forward that is not there succeeds. */
  removePortForward(vmId: string, nicId: string, forward: PortForwardSpec): Promise<SetResourceResult>;

  /**
   * The running guest's addresses as `source` knows them: `lease` (DHCP leases of libvirt
   * networks), `agent` (the guest agent; GUEST_AGENT_UNAVAILABLE when not connected), `arp` (the host's
   * ARP table). Empty when the domain is not running.
   */
  getInterfaceAddresses(vmId: string, source: AddressSource): Promise<InterfaceAddress[]>;
  /** OS and hostname from the guest agent; GUEST_AGENT_UNAVAILABLE when it does not answer. */
  getGuestInfo(vmId: string): Promise<GuestInfo>;
  /**
   * Runs a program in the guest through the agent and waits for it (default timeout 30 s; TIMEOUT
   * after). `command[0]` is the program's path; nothing goes through a shell on the host.
   */
  guestExec(
    vmId: string,
    command: string[],
    options?: { timeoutMs?: number; input?: string },
  ): Promise<GuestExecResult>;
  /** Freezes the guest's filesystems (for consistent snapshots); resolves with how many. */
  freezeFilesystems(vmId: string): Promise<number>;
  thawFilesystems(vmId: string): Promise<number>;

  /**
   * Hot stream of domain events; the event source starts with the first subscriber. After the
   * source restarts, a `resync-needed` event tells consumers to re-read the full state.
   */
  events(): Observable<DomainEvent>;

  /** Stops sessions, event watchers and monitor connections (not the guests). */
  close(): Promise<void>;
}
