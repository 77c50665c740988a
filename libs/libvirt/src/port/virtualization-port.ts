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
  SeedIsoSpec,
  SerialConsoleInfo,
  SetResourceResult,
  SnapshotCreateSpec,
  SnapshotInfo,
  VncEndpoint,
  VolumeFormat,
  VolumeInfo,
  VolumeSpec,
} from '../models';

/** DI token under which LibvirtModule provides the configured adapter. */
export const VIRTUALIZATION_PORT = Symbol('VIRTUALIZATION_PORT');

export interface UndefineOptions {
  /** Delete the domain's disk images (not CD-ROM media, which may be shared images). */
  removeVolumes?: boolean;
  /** Delete the seed ISO attached with `seedIsoPath`. */
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

  /** Stats of one domain. */
  getStats(vmId: string): Promise<DomainStats>;
  /** Stats of all LIMEN domains in one hypervisor call. */
  getAllStats(): Promise<DomainStats[]>;

  /** null when the domain has no VNC or is not running. */
  getVncEndpoint(vmId: string): Promise<VncEndpoint | null>;
  getSerialConsole(vmId: string): Promise<SerialConsoleInfo>;
  /** The last `maxBytes` (default 64 KiB) of the serial log, decoded as UTF-8. */
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
   * Creates the folder that holds a VM's files, private to the VM: 0700, or 0750 with QEMU's group
   * where QEMU runs as another user (libvirt's DAC), whatever the umask. Missing parents are
   * created 0755. Idempotent. createVolume and createSeedIso make their folder the same way.
   */
  createVmFolder(path: string): Promise<void>;
  /** Removes a VM's folder and everything in it. Idempotent: a missing folder is fine. */
  removeVmFolder(path: string): Promise<void>;

  createVolume(spec: VolumeSpec): Promise<VolumeInfo>;
  /**
   * What qemu-img reads from the file. With `format` the file is opened as that format only (a
   * file that is not one fails); without it qemu-img probes the content, so pass it for any file
   * LIMEN did not write itself.
   */
  getVolume(path: string, format?: VolumeFormat): Promise<VolumeInfo>;
  /** Bytes still free for volumes on the filesystem holding the folder `path`. */
  getAvailableBytes(path: string): Promise<number>;
  /** Grows (or, with `allowShrink`, shrinks) the virtual size. */
  resizeVolume(path: string, sizeBytes: number, options?: { allowShrink?: boolean }): Promise<VolumeInfo>;
  /** Idempotent: deleting a missing volume succeeds. */
  deleteVolume(path: string): Promise<void>;
  /**
   * Writes a cloud-init NoCloud seed ISO (label `cidata`) for `DomainSpec.seedIsoPath`, replacing
   * any previous seed at that path atomically. Returns it as a raw volume.
   */
  createSeedIso(spec: SeedIsoSpec): Promise<VolumeInfo>;

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
