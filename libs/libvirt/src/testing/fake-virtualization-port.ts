import { randomUUID } from 'node:crypto';
import { basename, dirname } from 'node:path';
import { Duplex } from 'node:stream';
import { Observable } from 'rxjs';
import { HypervisorError } from '../errors/hypervisor-error';
import { ppmToPng } from '../image/screenshot-png';
import {
  ConsoleType,
  DomainEvent,
  DomainInfo,
  DomainSpec,
  DomainStats,
  HostCapabilities,
  SerialConsoleInfo,
  SetResourceResult,
  SnapshotCreateSpec,
  SnapshotInfo,
  VncEndpoint,
  DiskBackupTarget,
  VolumeExportInfo,
  VolumeExportOptions,
  VolumeRef,
} from '../models';
import { assertSnapshotName, domainNameFor } from '../naming/domain-name';
import { ShutdownOptions, ShutdownResult, UndefineOptions, VirtualizationPort } from '../port/virtualization-port';
import { validateDomainSpec } from '../xml/spec-validation';
import { FakeConsoles } from './fake-consoles';
import { FakeCopies } from './fake-copies';
import { domainInfo, domainStats, FakeDomain, invalidState, isActive } from './fake-domain';
import { FakeCall, FakeCallLog, FakePortMethod } from './fake-calls';
import { FakeStoragePort } from './fake-storage-port';
import { FakePower } from './fake-power';
import { FakeSnapshots } from './fake-snapshots';

export interface FakeVirtualizationPortOptions {
  /** Which adapter it stands for (what getHostCapabilities reports). */
  adapter?: 'libvirt' | 'qemu-direct';
  /** Overrides of what getHostCapabilities reports. */
  capabilities?: Partial<HostCapabilities>;
  /** What the guest writes to its serial port each time it boots (start, reset, reboot). */
  bootOutput?: string;
  /** Size of the filesystem all storage pools share (see FakeStorage). Default 100 GiB. */
  storageCapacityBytes?: number;
}

/** A 1x1 black PNG: what screenshot() returns. */
const SCREENSHOT = ppmToPng(Buffer.concat([Buffer.from('P6\n1 1\n255\n', 'latin1'), Buffer.alloc(3)]));

/**
 * An in-memory VirtualizationPort for unit specs: domains, storage pools and volumes, disks,
 * snapshots, consoles and events behave as with the real adapters (same HypervisorError codes, state transitions and
 * lifecycle events; run by the port contract suite), but nothing touches the machine. Guests are
 * simulated: they boot at once, honour ACPI unless told otherwise, and write `bootOutput` to
 * their serial log. Tests steer it through `files`, `storage` (its capacity), `consoles`, `guestOutput`, `crash`,
 * `failDiskBackup`,
 * `ignoreAcpi`, `failNext`, `setUnavailable`, and for networking `networks`, `setGuestAgent`,
 * `setLeases`, `setHostRoutes`, `addBridge`, `setArpEntry` (see FakeNetworkingPort), and read
 * what was asked of it in `calls`.
 * Never used by production code (ESLint refuses the import outside specs).
 */
export class FakeVirtualizationPort extends FakeStoragePort implements VirtualizationPort {
  /** Consoles handed out by openConsole; `guestSide` plays the guest's end. */
  readonly consoles = new FakeConsoles();
  /** Every port call, in order, with its arguments. */
  readonly calls: FakeCall[];
  private readonly snapshots: FakeSnapshots;
  protected readonly power: FakePower;
  private readonly callLog = new FakeCallLog();
  private readonly capabilities: HostCapabilities;
  private readonly copies: FakeCopies;

  constructor(options: FakeVirtualizationPortOptions = {}) {
    super(options.storageCapacityBytes ?? 100 * 1024 ** 3);
    const adapter = options.adapter ?? 'libvirt';
    this.power = new FakePower(this.files, this.consoles, options.bootOutput ?? '');
    this.snapshots = new FakeSnapshots(this.files, this.power);
    this.copies = new FakeCopies(this.files, this.storage, this.domains);
    this.calls = this.callLog.calls;
    this.capabilities = {
      adapter,
      hostname: 'fake-host',
      cpus: 4,
      memoryMiB: 8192,
      virtTypes: ['qemu'],
      defaultVirtType: 'qemu',
      qemuVersion: '8.2.2',
      ...(adapter === 'libvirt' ? { libvirtVersion: '10.0.0' } : {}),
      machines: ['pc', 'pc-i440fx-8.2', 'pc-q35-8.2', 'q35'],
      ...options.capabilities,
    };
    this.callLog.install(this);
  }

  // ---- test controls ----

  /** The next call of `method` rejects with `error` (queued: call again for several). */
  failNext(method: FakePortMethod, error = new HypervisorError('OPERATION_FAILED', `injected failure of ${method}`)) {
    this.callLog.failNext(method, error);
    return this;
  }

  /** While down, every call rejects with HYPERVISOR_UNAVAILABLE, as with a stopped libvirtd. */
  setUnavailable(down: boolean): void {
    this.callLog.setUnavailable(down);
  }

  /** The guest writes to its serial port: the log and every open serial console get it. */
  guestOutput(vmId: string, text: string): void {
    this.power.guestWrites(this.require(vmId), text);
  }

  /** The running disk backup of the domain fails: its waitDiskBackup rejects with `error`. */
  failDiskBackup(vmId: string, error = new HypervisorError('OPERATION_FAILED', 'injected disk backup failure')): void {
    this.copies.failDiskBackup(vmId, error);
  }

  /** The guest ignores (or again honours) the ACPI power button. */
  ignoreAcpi(vmId: string, ignore = true): void {
    this.require(vmId).acpi = !ignore;
  }

  /** QEMU dies under the guest: shut off with reason `crashed`, as libvirt reports it. */
  crash(vmId: string): void {
    const domain = this.require(vmId);
    if (!isActive(domain.state)) throw invalidState(vmId, 'is not running');
    this.power.powerOff(domain, 'crashed', 'failed');
  }

  /** The event source restarted and events may have been lost. */
  restartEventSource(reason = 'event source restarted'): void {
    this.power.events.next({ kind: 'resync-needed', reason, timestamp: new Date() });
  }

  // ---- host ----

  async getHostCapabilities(): Promise<HostCapabilities> {
    return structuredClone(this.capabilities);
  }

  // ---- definitions ----

  async listDomains(): Promise<DomainInfo[]> {
    return [...this.domains.values()].map(domainInfo);
  }

  async getDomain(vmId: string): Promise<DomainInfo> {
    return domainInfo(this.require(vmId));
  }

  async defineDomain(spec: DomainSpec): Promise<DomainInfo> {
    validateDomainSpec(spec);
    if (this.domains.has(spec.vmId))
      throw new HypervisorError('DOMAIN_EXISTS', `domain ${domainNameFor(spec.vmId)} already exists`);
    const domain: FakeDomain = {
      config: structuredClone(spec),
      uuid: randomUUID(),
      virtType: spec.virtType ?? this.capabilities.defaultVirtType,
      state: 'shutoff',
      snapshots: [],
      acpi: true,
    };
    this.domains.set(spec.vmId, domain);
    this.power.lifecycle(spec.vmId, 'defined', 'added');
    return domainInfo(domain);
  }

  async redefineDomain(spec: DomainSpec): Promise<DomainInfo> {
    validateDomainSpec(spec);
    const domain = this.require(spec.vmId);
    if (domain.config.ownerId !== spec.ownerId)
      throw new HypervisorError(
        'INVALID_ARGUMENT',
        `domain ${domainNameFor(spec.vmId)} belongs to another owner; the owner of a domain cannot change`,
      );
    domain.config = structuredClone(spec);
    if (spec.virtType) domain.virtType = spec.virtType;
    this.power.lifecycle(spec.vmId, 'defined', 'updated');
    // The new definition with the current state, whatever the running QEMU uses until its next boot.
    return domainInfo({ ...domain, live: undefined });
  }

  async undefineDomain(vmId: string, options: UndefineOptions = {}): Promise<void> {
    const domain = this.require(vmId);
    if (domain.state !== 'shutoff') throw invalidState(vmId, `must be stopped to be deleted (it is ${domain.state})`);
    this.domains.delete(vmId);
    const { disks, seedIsoPath, serialLogPath } = domain.config;
    const removed = [
      ...(options.removeVolumes ? [...disks.map((disk) => disk.path), serialLogPath] : []),
      ...(options.removeSeedIso && seedIsoPath ? [seedIsoPath] : []),
    ];
    for (const path of removed) this.files.remove(path);
    // A VM of the layout before storage pools kept its files in a folder named after it.
    for (const folder of new Set(removed.map(dirname))) if (basename(folder) === vmId) this.files.removeTree(folder);
    this.power.lifecycle(vmId, 'undefined', 'removed');
  }

  // ---- lifecycle ----

  async start(vmId: string): Promise<void> {
    const domain = this.require(vmId);
    if (isActive(domain.state)) throw invalidState(vmId, 'is already active');
    this.power.boot(domain, 'booted');
  }

  async shutdown(vmId: string, options: ShutdownOptions = {}): Promise<ShutdownResult> {
    const domain = this.require(vmId);
    if (!isActive(domain.state)) throw invalidState(vmId, 'is not running');
    // A paused guest cannot see the power button; nothing here waits for real time to pass.
    if (domain.acpi && domain.state === 'running') {
      this.power.lifecycle(vmId, 'shutdown', 'finished after guest request');
      this.power.powerOff(domain, 'shutdown', 'shutdown');
      return { forced: false };
    }
    if (!options.forceAfterTimeout)
      throw new HypervisorError(
        'TIMEOUT',
        `domain ${domainNameFor(vmId)} did not shut down within ${options.timeoutMs ?? 60_000} ms`,
      );
    this.power.powerOff(domain, 'destroyed', 'destroyed');
    return { forced: true };
  }

  async destroy(vmId: string): Promise<void> {
    const domain = this.require(vmId);
    if (!isActive(domain.state)) throw invalidState(vmId, 'is not running');
    this.power.powerOff(domain, 'destroyed', 'destroyed');
  }

  async reboot(vmId: string): Promise<void> {
    const domain = this.requireRunning(vmId);
    if (domain.acpi) this.power.restart(domain);
  }

  async reset(vmId: string): Promise<void> {
    this.power.restart(this.requireRunning(vmId));
  }

  async suspend(vmId: string): Promise<void> {
    const domain = this.requireRunning(vmId);
    if (domain.state === 'paused') throw invalidState(vmId, 'is already paused');
    domain.state = 'paused';
    this.power.lifecycle(vmId, 'suspended', 'paused');
  }

  async resume(vmId: string): Promise<void> {
    const domain = this.requireRunning(vmId);
    if (domain.state !== 'paused') throw invalidState(vmId, 'is not paused');
    domain.state = 'running';
    this.power.lifecycle(vmId, 'resumed', 'unpaused');
  }

  // ---- configuration ----

  /** The definition's maximum follows the count; the running guest changes within its boot-time maximum. */
  async setVcpus(vmId: string, vcpus: number): Promise<SetResourceResult> {
    if (!Number.isInteger(vcpus) || vcpus < 1)
      throw new HypervisorError('INVALID_ARGUMENT', 'vcpus must be a positive integer');
    const domain = this.require(vmId);
    domain.config = { ...domain.config, vcpus, maxVcpus: vcpus };
    const live = domain.live !== undefined && vcpus <= (domain.live.maxVcpus ?? domain.live.vcpus);
    if (live) domain.live = { ...domain.live!, vcpus };
    return { config: true, live };
  }

  async setMemory(vmId: string, memoryMiB: number): Promise<SetResourceResult> {
    if (!Number.isInteger(memoryMiB) || memoryMiB < 1)
      throw new HypervisorError('INVALID_ARGUMENT', 'memoryMiB must be a positive integer');
    const domain = this.require(vmId);
    domain.config = { ...domain.config, memoryMiB, maxMemoryMiB: memoryMiB };
    const live = domain.live !== undefined && memoryMiB <= (domain.live.maxMemoryMiB ?? domain.live.memoryMiB);
    if (live) domain.live = { ...domain.live!, memoryMiB };
    return { config: true, live };
  }

  async insertCdrom(vmId: string, isoPath: string): Promise<void> {
    this.changeMedia(vmId, isoPath);
  }

  async ejectCdrom(vmId: string): Promise<void> {
    this.changeMedia(vmId, undefined);
  }

  // ---- snapshots ----

  async createSnapshot(vmId: string, spec: SnapshotCreateSpec): Promise<SnapshotInfo> {
    assertSnapshotName(spec.name);
    return this.snapshots.create(this.require(vmId), spec);
  }

  async listSnapshots(vmId: string): Promise<SnapshotInfo[]> {
    return this.snapshots.list(this.require(vmId));
  }

  async revertSnapshot(vmId: string, name: string): Promise<void> {
    assertSnapshotName(name);
    this.snapshots.revert(this.require(vmId), name);
  }

  async deleteSnapshot(vmId: string, name: string): Promise<void> {
    assertSnapshotName(name);
    this.snapshots.delete(this.require(vmId), name);
  }

  // ---- observation and consoles ----

  async getStats(vmId: string): Promise<DomainStats> {
    return domainStats(this.require(vmId));
  }

  async getAllStats(): Promise<DomainStats[]> {
    return [...this.domains.values()].map((domain) => domainStats(domain));
  }

  /** The fake has no VNC server: openConsole('vnc') is the way in. */
  async getVncEndpoint(vmId: string): Promise<VncEndpoint | null> {
    const domain = this.require(vmId);
    if (!isActive(domain.state) || !domain.live?.vnc?.enabled) return null;
    return { socketPath: `/run/limen-fake/${domainNameFor(vmId)}/vnc.sock` };
  }

  /** The log only: the fake has no pty (openConsole('serial') is the way in). */
  async getSerialConsole(vmId: string): Promise<SerialConsoleInfo> {
    return { logPath: this.require(vmId).config.serialLogPath };
  }

  async tailSerialLog(vmId: string, maxBytes = 64 * 1024): Promise<string> {
    const log = this.files.file(this.require(vmId).config.serialLogPath);
    if (!log) return '';
    return log.content.subarray(Math.max(0, log.content.length - maxBytes)).toString('utf8');
  }

  async screenshot(vmId: string): Promise<Buffer> {
    this.requireRunning(vmId);
    return Buffer.from(SCREENSHOT);
  }

  async openConsole(vmId: string, type: ConsoleType): Promise<Duplex> {
    const domain = this.require(vmId);
    if (!isActive(domain.state))
      throw invalidState(vmId, `has no ${type === 'vnc' ? 'VNC display' : 'serial console pty'} now`);
    if (type === 'vnc' && !domain.live?.vnc?.enabled) throw invalidState(vmId, 'has no VNC display now');
    return this.consoles.connect(vmId, type);
  }

  events(): Observable<DomainEvent> {
    return this.power.events.asObservable();
  }

  async close(): Promise<void> {}

  // ---- internals ----

  private changeMedia(vmId: string, isoPath: string | undefined): void {
    const domain = this.require(vmId);
    if (!domain.config.cdrom) throw invalidState(vmId, 'has no CD-ROM drive');
    domain.config = { ...domain.config, cdrom: { ...(isoPath ? { isoPath } : {}) } };
    if (domain.live) domain.live = { ...domain.live, cdrom: { ...(isoPath ? { isoPath } : {}) } };
  }

  // ---- copies ----

  async beginDiskBackup(vmId: string, targets: DiskBackupTarget[]): Promise<void> {
    this.copies.beginDiskBackup(vmId, this.require(vmId), targets);
  }

  async waitDiskBackup(vmId: string, _options?: { timeoutMs?: number }): Promise<void> {
    this.copies.waitDiskBackup(vmId, this.require(vmId));
  }

  async abortDiskBackup(vmId: string): Promise<void> {
    this.require(vmId);
    this.copies.abortDiskBackup(vmId);
  }

  async exportVolume(source: VolumeRef, localPath: string, options: VolumeExportOptions): Promise<VolumeExportInfo> {
    return this.copies.exportVolume(source, localPath, options);
  }
}
