import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, hostname, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Duplex } from 'node:stream';
import { defer, Observable, Subject } from 'rxjs';
import { openConsoleStream } from '../../console/console-stream';
import { tailFile } from '../../console/serial-log';
import { HypervisorError } from '../../errors/hypervisor-error';
import { withScratchDir } from '../../host/scratch-dir';
import { VirtTypeResolver } from '../../host/virt-type-resolver';
import { screenshotToPng } from '../../image/screenshot-png';
import {
  AddressSource,
  BlockStats,
  ConsoleType,
  DhcpLease,
  DiskBackupTarget,
  DiskSpec,
  DomainEvent,
  DomainInfo,
  DomainSpec,
  DomainState,
  DomainStats,
  GuestExecResult,
  GuestInfo,
  HostCapabilities,
  InterfaceAddress,
  NetworkDefinition,
  NetworkInfo,
  NicSpec,
  PoolVolumeInfo,
  PoolVolumeSpec,
  PortForwardSpec,
  SeedIsoVolumeSpec,
  LifecycleEventType,
  SerialConsoleInfo,
  SetResourceResult,
  SnapshotCreateSpec,
  SnapshotInfo,
  StoragePoolDefinition,
  StoragePoolInfo,
  VncEndpoint,
  VolumeFormat,
  VolumeExportInfo,
  VolumeExportOptions,
  VolumeRef,
} from '../../models';
import { diskIdFromAlias } from '../../naming/disk-name';
import { assertSnapshotName, domainNameFor } from '../../naming/domain-name';
import { assertNetworkName, nicIdFromAlias, userNetdevId } from '../../naming/network-name';
import { nicsOf, validateNetworkDefinition } from '../../networks/network-validation';
import { readHostRoutes } from '../../host/host-routes';
import { ShutdownOptions, ShutdownResult, UndefineOptions, VirtualizationPort } from '../../port/virtualization-port';
import { QmpClient, QmpEvent } from '../../qmp/qmp-client';
import { LibLogger, silentLogger } from '../../transport/logger';
import { runProcess } from '../../transport/process-runner';
import { QemuImg } from '../../volumes/qemu-img';
import { SeedIsoWriter } from '../../volumes/seed-iso';
import { CDROM_TARGET, diskInfosOf, validateDomainSpec } from '../../xml/spec-validation';
import { BridgeAccess } from './bridge-access';
import { blockStatsTarget, QemuDirectDisks, removeDiskNode } from './disk-hotplug';
import { DomainNics } from './domain-nics';
import { DomainStore, StoredDomain } from './domain-store';
import { GuestAgents } from './guest-agent';
import { QemuDirectCopies } from './qemu-direct-copies';
import { QemuDirectStorage } from './qemu-direct-storage';
import { LIBVIRT_NETWORKS_UNSUPPORTED, tapNetdevId } from './nic-argv';
import { buildQemuArgv, GUEST_AGENT_PORT_ID, QemuLaunchPaths } from './qemu-argv';
import { isOurQemu, processCpuTimeNs, processRssKiB, readPid } from './qemu-process';

export interface QemuDirectAdapterOptions {
  stateDir: string;
  qemuBinary?: string;
  virtTypes: VirtTypeResolver;
  qemuImg?: QemuImg;
  seedIsoWriter?: SeedIsoWriter;
  commandTimeoutMs?: number;
  logger?: LibLogger;
  pollIntervalMs?: number;
  /** How long a guest agent gets to answer before it counts as unavailable. Default 3 s. */
  guestAgentTimeoutMs?: number;
  /** How long a guest gets to release a hot-unplugged NIC. Default 15 s. */
  nicUnplugTimeoutMs?: number;
  /** How long a guest gets to release a hot-unplugged disk. Default 30 s. */
  diskUnplugTimeoutMs?: number;
  /** Bridge access of the host (tests replace it). */
  bridges?: BridgeAccess;
}

/** A QEMU process this adapter is connected to. */
interface RunningDomain {
  vmId: string;
  pid: number;
  qmp: QmpClient;
  /** Set by reboot(): the next guest power-off is turned into a reset. */
  rebootPending: boolean;
  /** Set by destroy(): the exit is reported as "destroyed". */
  destroying: boolean;
  /** Set when QEMU reported a guest shutdown before exiting. */
  guestShutdown: boolean;
}

/** sun_path is 108 bytes including the terminating NUL. */
const MAX_UNIX_SOCKET_PATH = 107;

const QMP_STATUS: Record<string, DomainState> = {
  running: 'running',
  paused: 'paused',
  prelaunch: 'paused',
  inmigrate: 'paused',
  postmigrate: 'paused',
  'finish-migrate': 'paused',
  'save-vm': 'paused',
  'restore-vm': 'paused',
  debug: 'paused',
  'io-error': 'paused',
  watchdog: 'paused',
  suspended: 'pmsuspended',
  'guest-panicked': 'crashed',
  'internal-error': 'crashed',
  shutdown: 'shutoff',
};

/**
 * VirtualizationPort without libvirtd: runs qemu-system-x86_64 itself (daemonized, QMP on a
 * unix socket), keeps specs as JSON in a state folder and re-attaches to QEMU processes that
 * survived a restart of the api. For hosts that have QEMU but no libvirt.
 */
export class QemuDirectAdapter implements VirtualizationPort {
  private readonly store: DomainStore;
  private readonly qemuBinary: string;
  private readonly storage: QemuDirectStorage;
  private readonly logger: LibLogger;
  private readonly running = new Map<string, RunningDomain>();
  private readonly attaching = new Map<string, Promise<RunningDomain | undefined>>();
  /** A QEMU's exit clean-up (its pid file and sockets go): a new launch waits for it, or it would delete the new ones. */
  private readonly exiting = new Map<string, Promise<void>>();
  private readonly subject = new Subject<DomainEvent>();
  private attachedAll: Promise<void> | undefined;
  private capabilities: Promise<HostCapabilities> | undefined;
  private readonly agents: GuestAgents;
  private readonly bridges: BridgeAccess;
  private readonly nics: DomainNics;
  private readonly disks: QemuDirectDisks;
  private readonly copies: QemuDirectCopies;

  constructor(private readonly options: QemuDirectAdapterOptions) {
    this.store = new DomainStore(options.stateDir);
    this.qemuBinary = options.qemuBinary ?? 'qemu-system-x86_64';
    this.storage = new QemuDirectStorage({
      stateDir: options.stateDir,
      qemuImg: options.qemuImg,
      seedIsoWriter: options.seedIsoWriter,
    });
    this.copies = new QemuDirectCopies({
      storage: this.storage,
      qemuImg: options.qemuImg ?? new QemuImg(),
      requireDomain: (vmId) => this.requireDomain(vmId),
      qmp: async (vmId) => (await this.runtime(vmId))?.qmp,
      pollIntervalMs: options.pollIntervalMs,
    });
    this.logger = options.logger ?? silentLogger;
    this.agents = new GuestAgents({ answerTimeoutMs: options.guestAgentTimeoutMs });
    this.bridges = options.bridges ?? new BridgeAccess();
    const monitor = async (vmId: string) => {
      const domain = await this.runtime(vmId);
      return domain ? { qmp: domain.qmp, events$: domain.qmp.events$ } : undefined;
    };
    this.nics = new DomainNics({
      store: this.store,
      bridges: this.bridges,
      requireDomain: (vmId) => this.requireDomain(vmId),
      monitor,
      unplugTimeoutMs: options.nicUnplugTimeoutMs ?? 15_000,
    });
    this.disks = new QemuDirectDisks({
      store: this.store,
      requireDomain: (vmId) => this.requireDomain(vmId),
      monitor,
      unplugTimeoutMs: options.diskUnplugTimeoutMs ?? 30_000,
      qemuImg: options.qemuImg ?? new QemuImg(),
    });
    this.agents.changes$.subscribe(({ vmId, connected }) =>
      this.emit(
        {
          kind: 'other',
          name: 'agent-lifecycle',
          detail: connected ? 'connected' : 'disconnected',
          timestamp: new Date(),
        },
        vmId,
      ),
    );
  }

  getHostCapabilities(): Promise<HostCapabilities> {
    this.capabilities ??= this.readCapabilities();
    return this.capabilities;
  }

  async listDomains(): Promise<DomainInfo[]> {
    const ids = await this.store.list();
    const domains = await Promise.all(ids.map((vmId) => this.getDomain(vmId).catch(() => undefined)));
    return domains.filter((domain): domain is DomainInfo => domain !== undefined);
  }

  async getDomain(vmId: string): Promise<DomainInfo> {
    const stored = await this.requireDomain(vmId);
    return this.toInfo(stored, await this.state(vmId));
  }

  async defineDomain(spec: DomainSpec): Promise<DomainInfo> {
    validateDomainSpec(spec);
    if (await this.store.read(spec.vmId))
      throw new HypervisorError('DOMAIN_EXISTS', `domain ${domainNameFor(spec.vmId)} already exists`);
    const virtType = spec.virtType ?? (await this.options.virtTypes.resolve());
    // Building the command line now rejects specs QEMU could not run, as libvirt's define would.
    await this.checkLaunchable(spec, virtType);
    const mac = nicsOf(spec)[0]?.mac;
    await this.store.write({
      spec,
      uuid: randomUUID(),
      virtType,
      ...(mac ? { mac } : {}),
      createdAt: new Date().toISOString(),
    });
    this.emitLifecycle(spec.vmId, 'defined', 'added');
    return this.getDomain(spec.vmId);
  }

  async redefineDomain(spec: DomainSpec): Promise<DomainInfo> {
    validateDomainSpec(spec);
    const stored = await this.requireDomain(spec.vmId);
    if (stored.spec.ownerId !== spec.ownerId) {
      throw new HypervisorError(
        'INVALID_ARGUMENT',
        `domain ${domainNameFor(spec.vmId)} belongs to another owner; the owner of a domain cannot change`,
      );
    }
    const virtType = spec.virtType ?? stored.virtType;
    await this.checkLaunchable(spec, virtType);
    const mac = nicsOf(spec)[0]?.mac;
    // A running QEMU keeps the command line it was started with; the stored spec (written
    // through a rename, so never half-written) is what the next start uses. Snapshots live in
    // their own index and in the disks, neither of which is touched.
    await this.store.write({ spec, uuid: stored.uuid, virtType, ...(mac ? { mac } : {}), createdAt: stored.createdAt });
    this.emitLifecycle(spec.vmId, 'defined', 'updated');
    return this.getDomain(spec.vmId);
  }

  async undefineDomain(vmId: string, options: UndefineOptions = {}): Promise<void> {
    const stored = await this.requireDomain(vmId);
    const state = await this.state(vmId);
    if (state !== 'shutoff')
      throw new HypervisorError(
        'INVALID_STATE',
        `domain ${domainNameFor(vmId)} must be stopped to be deleted (it is ${state})`,
      );
    const { disks, serialLogPath, seedIsoPath } = stored.spec;
    const files: string[] = [];
    if (options.removeVolumes) files.push(...disks.map((disk) => disk.path), serialLogPath);
    if (options.removeSeedIso && seedIsoPath) files.push(seedIsoPath);
    // qemu-direct boots SeaBIOS only, so there is never an NVRAM file to remove.
    await this.store.remove(vmId);
    // Its pools are folders of this machine: the files go directly, and so does the folder named
    // after the VM that held them before storage pools.
    await Promise.all(files.map((file) => rm(file, { force: true })));
    for (const folder of new Set(files.map(dirname).filter((folder) => basename(folder) === vmId)))
      await rm(folder, { recursive: true, force: true });
    this.emitLifecycle(vmId, 'undefined', 'removed');
  }

  async start(vmId: string): Promise<void> {
    await this.launch(vmId);
  }

  async shutdown(vmId: string, options: ShutdownOptions = {}): Promise<ShutdownResult> {
    const domain = await this.requireRunning(vmId);
    const timeoutMs = options.timeoutMs ?? 60_000;
    await domain.qmp.execute('system_powerdown');
    if (await this.waitForExit(domain, timeoutMs)) return { forced: false };
    if (!options.forceAfterTimeout) {
      throw new HypervisorError('TIMEOUT', `domain ${domainNameFor(vmId)} did not shut down within ${timeoutMs} ms`);
    }
    await this.destroy(vmId);
    return { forced: true };
  }

  async destroy(vmId: string): Promise<void> {
    const domain = await this.requireRunning(vmId);
    domain.destroying = true;
    try {
      await domain.qmp.execute('quit', undefined, 5_000);
    } catch (error) {
      // QEMU may close the socket before answering `quit`; that is success.
      if (!HypervisorError.is(error, 'HYPERVISOR_UNAVAILABLE') && !HypervisorError.is(error, 'TIMEOUT')) throw error;
    }
    if (!(await this.waitForExit(domain, 10_000))) {
      process.kill(domain.pid, 'SIGKILL');
      await this.waitForExit(domain, 5_000);
    }
  }

  async reboot(vmId: string): Promise<void> {
    const domain = await this.requireRunning(vmId);
    // Like libvirt's ACPI reboot: ask the guest to power off, then reset instead of exiting.
    domain.rebootPending = true;
    await domain.qmp.execute('system_powerdown');
  }

  async reset(vmId: string): Promise<void> {
    await (await this.requireRunning(vmId)).qmp.execute('system_reset');
  }

  async suspend(vmId: string): Promise<void> {
    const domain = await this.requireRunning(vmId);
    if ((await this.state(vmId)) === 'paused')
      throw new HypervisorError('INVALID_STATE', `domain ${domainNameFor(vmId)} is already paused`);
    await domain.qmp.execute('stop');
  }

  async resume(vmId: string): Promise<void> {
    const domain = await this.requireRunning(vmId);
    if ((await this.state(vmId)) !== 'paused')
      throw new HypervisorError('INVALID_STATE', `domain ${domainNameFor(vmId)} is not paused`);
    await domain.qmp.execute('cont');
  }

  async setVcpus(vmId: string, vcpus: number): Promise<SetResourceResult> {
    if (!Number.isInteger(vcpus) || vcpus < 1)
      throw new HypervisorError('INVALID_ARGUMENT', 'vcpus must be a positive integer');
    const stored = await this.requireDomain(vmId);
    // The maximum follows the count both ways, as under libvirt: the next start gets exactly this.
    await this.store.write({ ...stored, spec: { ...stored.spec, vcpus, maxVcpus: vcpus } });
    // vCPU hot-plug needs per-CPU device_add and guest cooperation; qemu-direct applies it at
    // the next start and says so.
    return { config: true, live: false };
  }

  async setMemory(vmId: string, memoryMiB: number): Promise<SetResourceResult> {
    if (!Number.isInteger(memoryMiB) || memoryMiB < 1)
      throw new HypervisorError('INVALID_ARGUMENT', 'memoryMiB must be a positive integer');
    const stored = await this.requireDomain(vmId);
    const launchedMax = stored.spec.maxMemoryMiB ?? stored.spec.memoryMiB;
    await this.store.write({ ...stored, spec: { ...stored.spec, memoryMiB, maxMemoryMiB: memoryMiB } });
    const domain = await this.runtime(vmId);
    if (!domain || memoryMiB > launchedMax) return { config: true, live: false };
    await domain.qmp.execute('balloon', { value: memoryMiB * 1024 * 1024 });
    return { config: true, live: true };
  }

  async insertCdrom(vmId: string, isoPath: string): Promise<void> {
    const stored = await this.requireDomain(vmId);
    if (!stored.spec.cdrom)
      throw new HypervisorError('INVALID_STATE', `domain ${domainNameFor(vmId)} has no CD-ROM drive`);
    const domain = await this.runtime(vmId);
    if (domain) {
      await domain.qmp.execute('blockdev-change-medium', {
        id: CDROM_TARGET,
        filename: isoPath,
        format: 'raw',
        'read-only-mode': 'read-only',
      });
    }
    await this.store.write({ ...stored, spec: { ...stored.spec, cdrom: { isoPath } } });
  }

  async ejectCdrom(vmId: string): Promise<void> {
    const stored = await this.requireDomain(vmId);
    if (!stored.spec.cdrom)
      throw new HypervisorError('INVALID_STATE', `domain ${domainNameFor(vmId)} has no CD-ROM drive`);
    const domain = await this.runtime(vmId);
    if (domain && stored.spec.cdrom.isoPath) await domain.qmp.execute('eject', { id: CDROM_TARGET, force: true });
    await this.store.write({ ...stored, spec: { ...stored.spec, cdrom: {} } });
  }

  async createSnapshot(vmId: string, spec: SnapshotCreateSpec): Promise<SnapshotInfo> {
    assertSnapshotName(spec.name);
    const stored = await this.requireDomain(vmId);
    const index = await this.store.readSnapshots(vmId);
    if (index.snapshots.some((snapshot) => snapshot.name === spec.name)) {
      throw new HypervisorError('INVALID_ARGUMENT', `snapshot ${spec.name} already exists`);
    }
    const domain = await this.runtime(vmId);
    const domainState = await this.state(vmId);
    if (domain) {
      // savevm stores RAM and device state in the first qcow2 disk and snapshots all disks.
      await this.hmp(domain, `savevm ${spec.name}`, 300_000);
    } else {
      for (const disk of this.qcow2Disks(stored)) await runProcess('qemu-img', ['snapshot', '-c', spec.name, disk]);
    }
    index.snapshots.push({
      name: spec.name,
      ...(spec.description !== undefined ? { description: spec.description } : {}),
      createdAt: new Date().toISOString(),
      domainState,
      ...(index.current ? { parent: index.current } : {}),
    });
    index.current = spec.name;
    await this.store.writeSnapshots(vmId, index);
    return (await this.listSnapshots(vmId)).find((snapshot) => snapshot.name === spec.name) as SnapshotInfo;
  }

  async listSnapshots(vmId: string): Promise<SnapshotInfo[]> {
    await this.requireDomain(vmId);
    const index = await this.store.readSnapshots(vmId);
    return index.snapshots.map((snapshot) => ({
      name: snapshot.name,
      ...(snapshot.description !== undefined ? { description: snapshot.description } : {}),
      createdAt: new Date(snapshot.createdAt),
      domainState: snapshot.domainState,
      current: snapshot.name === index.current,
      ...(snapshot.parent ? { parent: snapshot.parent } : {}),
    }));
  }

  async revertSnapshot(vmId: string, name: string): Promise<void> {
    assertSnapshotName(name);
    const stored = await this.requireDomain(vmId);
    const index = await this.store.readSnapshots(vmId);
    const snapshot = index.snapshots.find((s) => s.name === name);
    if (!snapshot) throw new HypervisorError('SNAPSHOT_NOT_FOUND', `snapshot ${name} not found`);
    const withMemory = snapshot.domainState === 'running' || snapshot.domainState === 'paused';
    let domain = await this.runtime(vmId);
    if (withMemory) {
      if (domain) await this.hmp(domain, `loadvm ${name}`, 300_000);
      else domain = await this.launch(vmId, name);
      if (snapshot.domainState === 'running') await domain.qmp.execute('cont');
    } else {
      // A disk-only snapshot describes a powered-off machine: stop it, then rewind the disks.
      if (domain) await this.destroy(vmId);
      for (const disk of this.qcow2Disks(stored)) await runProcess('qemu-img', ['snapshot', '-a', name, disk]);
    }
    index.current = name;
    await this.store.writeSnapshots(vmId, index);
  }

  async deleteSnapshot(vmId: string, name: string): Promise<void> {
    assertSnapshotName(name);
    const stored = await this.requireDomain(vmId);
    const index = await this.store.readSnapshots(vmId);
    const snapshot = index.snapshots.find((s) => s.name === name);
    if (!snapshot) throw new HypervisorError('SNAPSHOT_NOT_FOUND', `snapshot ${name} not found`);
    const domain = await this.runtime(vmId);
    if (domain) await this.hmp(domain, `delvm ${name}`, 300_000);
    else for (const disk of this.qcow2Disks(stored)) await runProcess('qemu-img', ['snapshot', '-d', name, disk]);
    index.snapshots = index.snapshots
      .filter((s) => s.name !== name)
      .map((s) =>
        s.parent === name ? { ...s, ...(snapshot.parent ? { parent: snapshot.parent } : { parent: undefined }) } : s,
      );
    if (index.current === name) index.current = snapshot.parent;
    await this.store.writeSnapshots(vmId, index);
  }

  async getStats(vmId: string): Promise<DomainStats> {
    const stored = await this.requireDomain(vmId);
    const state = await this.state(vmId);
    const domain = await this.runtime(vmId);
    const name = domainNameFor(vmId);
    const base: DomainStats = {
      name,
      vmId,
      state,
      cpuTimeNs: 0,
      vcpus: stored.spec.vcpus,
      memory: {
        currentKiB: stored.spec.memoryMiB * 1024,
        maxKiB: (stored.spec.maxMemoryMiB ?? stored.spec.memoryMiB) * 1024,
      },
      block: [],
      // User-mode NICs have no host interface to count on; bridge NICs have their taps (see below).
      net: [],
      collectedAt: new Date(),
    };
    if (!domain) return base;
    const [balloon, blockstats, cpusFast, cpuTimeNs, rssKiB, net] = await Promise.all([
      domain.qmp.execute<{ actual: number }>('query-balloon').catch(() => undefined),
      domain.qmp.execute<Array<{ device: string; qdev?: string; stats: Record<string, number> }>>('query-blockstats'),
      domain.qmp.execute<unknown[]>('query-cpus-fast'),
      processCpuTimeNs(domain.pid),
      processRssKiB(domain.pid),
      this.bridges.tapStats(vmId, nicsOf(stored.spec)),
    ]);
    const block: BlockStats[] = blockstats.flatMap((entry) => {
      const name = blockStatsTarget(entry, stored.spec);
      if (name === undefined) return [];
      return [
        {
          name,
          readBytes: entry.stats.rd_bytes ?? 0,
          writeBytes: entry.stats.wr_bytes ?? 0,
          readRequests: entry.stats.rd_operations ?? 0,
          writeRequests: entry.stats.wr_operations ?? 0,
        },
      ];
    });
    return {
      ...base,
      cpuTimeNs,
      vcpus: cpusFast.length,
      memory: {
        ...base.memory,
        ...(balloon ? { currentKiB: Math.floor(balloon.actual / 1024) } : {}),
        ...(rssKiB !== undefined ? { rssKiB } : {}),
      },
      block,
      net,
    };
  }

  async getAllStats(): Promise<DomainStats[]> {
    const ids = await this.store.list();
    const stats = await Promise.all(ids.map((vmId) => this.getStats(vmId).catch(() => undefined)));
    return stats.filter((s): s is DomainStats => s !== undefined);
  }

  async getVncEndpoint(vmId: string): Promise<VncEndpoint | null> {
    const stored = await this.requireDomain(vmId);
    const domain = await this.runtime(vmId);
    if (!domain || !stored.spec.vnc?.enabled) return null;
    const vnc = await domain.qmp.execute<{ enabled: boolean }>('query-vnc');
    return vnc.enabled ? { socketPath: this.store.vncSocket(vmId) } : null;
  }

  async getSerialConsole(vmId: string): Promise<SerialConsoleInfo> {
    const stored = await this.requireDomain(vmId);
    const domain = await this.runtime(vmId);
    let ptyPath: string | undefined;
    if (domain) {
      const chardevs = await domain.qmp.execute<Array<{ label: string; filename: string }>>('query-chardev');
      const serial = chardevs.find((chardev) => chardev.label === 'serial0');
      if (serial?.filename.startsWith('pty:')) ptyPath = serial.filename.slice('pty:'.length);
    }
    return { ...(ptyPath ? { ptyPath } : {}), logPath: stored.spec.serialLogPath };
  }

  async tailSerialLog(vmId: string, maxBytes?: number): Promise<string> {
    return tailFile((await this.requireDomain(vmId)).spec.serialLogPath, maxBytes);
  }

  openConsole(vmId: string, type: ConsoleType): Promise<Duplex> {
    return openConsoleStream(this, vmId, type);
  }

  async screenshot(vmId: string): Promise<Buffer> {
    const domain = await this.requireRunning(vmId);
    return withScratchDir(async (dir) => {
      const file = join(dir, 'screen.ppm');
      await domain.qmp.execute('screendump', { filename: file });
      return screenshotToPng(await readFile(file));
    });
  }

  ensureStoragePool(definition: StoragePoolDefinition): Promise<StoragePoolInfo> {
    return this.storage.ensureStoragePool(definition);
  }

  listStoragePools(): Promise<StoragePoolInfo[]> {
    return this.storage.listStoragePools();
  }

  createVolume(spec: PoolVolumeSpec): Promise<PoolVolumeInfo> {
    return this.storage.createVolume(spec);
  }

  getVolume(ref: VolumeRef, format?: VolumeFormat): Promise<PoolVolumeInfo> {
    return this.storage.getVolume(ref, format);
  }

  resizeVolume(ref: VolumeRef, sizeBytes: number, options?: { allowShrink?: boolean }): Promise<PoolVolumeInfo> {
    return this.storage.resizeVolume(ref, sizeBytes, options);
  }

  deleteVolume(ref: VolumeRef): Promise<void> {
    return this.storage.deleteVolume(ref);
  }

  cloneVolume(source: VolumeRef, target: VolumeRef): Promise<PoolVolumeInfo> {
    return this.storage.cloneVolume(source, target);
  }

  uploadVolume(ref: VolumeRef, localPath: string, options: { format: VolumeFormat }): Promise<PoolVolumeInfo> {
    return this.storage.uploadVolume(ref, localPath, options);
  }

  downloadVolume(ref: VolumeRef, localPath: string): Promise<void> {
    return this.storage.downloadVolume(ref, localPath);
  }

  createSeedIso(spec: SeedIsoVolumeSpec): Promise<PoolVolumeInfo> {
    return this.storage.createSeedIso(spec);
  }

  attachDisk(vmId: string, disk: DiskSpec): Promise<SetResourceResult> {
    return this.disks.attachDisk(vmId, disk);
  }

  detachDisk(vmId: string, diskId: string): Promise<SetResourceResult> {
    return this.disks.detachDisk(vmId, diskId);
  }

  growDisk(vmId: string, diskId: string, sizeBytes: number): Promise<SetResourceResult> {
    return this.disks.growDisk(vmId, diskId, sizeBytes);
  }

  // ---- networks: qemu-direct has no managed networks, only user-mode NICs and host bridges ----

  async ensureNetwork(definition: NetworkDefinition): Promise<NetworkInfo> {
    validateNetworkDefinition(definition);
    throw new HypervisorError('UNSUPPORTED', LIBVIRT_NETWORKS_UNSUPPORTED);
  }

  async removeNetwork(name: string): Promise<void> {
    assertNetworkName(name);
    throw new HypervisorError('UNSUPPORTED', LIBVIRT_NETWORKS_UNSUPPORTED);
  }

  async listNetworks(): Promise<NetworkInfo[]> {
    return [];
  }

  listHostRoutes(): Promise<string[]> {
    return readHostRoutes();
  }

  hasBridge(name: string): Promise<boolean> {
    return this.bridges.hasBridge(name);
  }

  /** No DHCP server of LIMEN's runs here (user-mode NICs get theirs inside QEMU). */
  async getDhcpLeases(network: string): Promise<DhcpLease[]> {
    assertNetworkName(network);
    return [];
  }

  // ---- NICs and port forwards (see DomainNics) ----

  attachNic(vmId: string, nic: NicSpec): Promise<SetResourceResult> {
    return this.nics.attach(vmId, nic);
  }

  detachNic(vmId: string, nicId: string): Promise<SetResourceResult> {
    return this.nics.detach(vmId, nicId);
  }

  addPortForward(vmId: string, nicId: string, forward: PortForwardSpec): Promise<SetResourceResult> {
    return this.nics.addForward(vmId, nicId, forward);
  }

  removePortForward(vmId: string, nicId: string, forward: PortForwardSpec): Promise<SetResourceResult> {
    return this.nics.removeForward(vmId, nicId, forward);
  }

  // ---- the guest agent (see GuestAgents) ----

  async getInterfaceAddresses(vmId: string, source: AddressSource): Promise<InterfaceAddress[]> {
    if (!['lease', 'agent', 'arp'].includes(source))
      throw new HypervisorError('INVALID_ARGUMENT', 'source must be lease, agent or arp');
    await this.requireDomain(vmId);
    if (!(await this.runtime(vmId))) return [];
    if (source === 'lease') return [];
    if (source === 'arp') return this.nics.arpAddresses(vmId);
    return this.agents.addresses(vmId, await this.agentSocket(vmId));
  }

  async getGuestInfo(vmId: string): Promise<GuestInfo> {
    return this.agents.info(vmId, await this.agentSocket(vmId));
  }

  async guestExec(
    vmId: string,
    command: string[],
    options?: { timeoutMs?: number; input?: string },
  ): Promise<GuestExecResult> {
    return this.agents.exec(vmId, await this.agentSocket(vmId), command, options);
  }

  async freezeFilesystems(vmId: string): Promise<number> {
    return this.agents.freeze(vmId, await this.agentSocket(vmId));
  }

  async thawFilesystems(vmId: string): Promise<number> {
    return this.agents.thaw(vmId, await this.agentSocket(vmId));
  }

  events(): Observable<DomainEvent> {
    // Attaching on first subscription makes events of QEMUs that outlived the api flow again.
    return defer(() => {
      this.attachedAll ??= this.attachAll();
      return this.subject.asObservable();
    });
  }

  async close(): Promise<void> {
    for (const domain of this.running.values()) domain.qmp.close();
    this.running.clear();
  }

  /** Connects to every still-running QEMU; missed events while detached require a resync. */
  private async attachAll(): Promise<void> {
    const ids = await this.store.list();
    const alreadyConnected = new Set(this.running.keys());
    const attached = await Promise.all(
      ids.map((vmId) =>
        this.runtime(vmId).catch((error: unknown) => {
          this.logger.warn(`cannot re-attach to QEMU of ${domainNameFor(vmId)}: ${(error as Error).message}`);
          return undefined;
        }),
      ),
    );
    if (attached.some((domain) => domain && !alreadyConnected.has(domain.vmId))) {
      this.subject.next({
        kind: 'resync-needed',
        reason: 're-attached to running QEMU processes',
        timestamp: new Date(),
      });
    }
  }

  private async readCapabilities(): Promise<HostCapabilities> {
    const [version, machineHelp, virtTypes, defaultVirtType] = await Promise.all([
      runProcess(this.qemuBinary, ['--version']),
      runProcess(this.qemuBinary, ['-machine', 'help']),
      this.options.virtTypes.usableTypes(),
      this.options.virtTypes.resolve(),
    ]);
    const machines = machineHelp.stdout
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/)[0])
      .filter((name) => !!name && name !== 'none');
    return {
      adapter: 'qemu-direct',
      hostname: hostname(),
      cpus: cpus().length,
      memoryMiB: Math.floor(totalmem() / 1024 / 1024),
      virtTypes,
      defaultVirtType,
      qemuVersion: /version (\S+)/.exec(version.stdout)?.[1] ?? 'unknown',
      machines: machines.sort(),
    };
  }

  private async requireDomain(vmId: string): Promise<StoredDomain> {
    const stored = await this.store.read(vmId);
    if (!stored) throw new HypervisorError('DOMAIN_NOT_FOUND', `domain ${domainNameFor(vmId)} not found`);
    return stored;
  }

  private async requireRunning(vmId: string): Promise<RunningDomain> {
    await this.requireDomain(vmId);
    const domain = await this.runtime(vmId);
    if (!domain) throw new HypervisorError('INVALID_STATE', `domain ${domainNameFor(vmId)} is not running`);
    return domain;
  }

  /** The agent socket of a running domain with an agent channel; GUEST_AGENT_UNAVAILABLE otherwise. */
  private async agentSocket(vmId: string): Promise<string> {
    const stored = await this.requireDomain(vmId);
    if (stored.spec.guestAgent === false)
      throw new HypervisorError('GUEST_AGENT_UNAVAILABLE', `domain ${domainNameFor(vmId)} has no guest agent channel`);
    if (!(await this.runtime(vmId)))
      throw new HypervisorError('GUEST_AGENT_UNAVAILABLE', `domain ${domainNameFor(vmId)} is not running`);
    return this.store.qgaSocket(vmId);
  }

  /** Rejects what QEMU could not run, as libvirt's define would: the command line and the NICs' bridge access. */
  private async checkLaunchable(spec: DomainSpec, virtType: DomainInfo['virtType']): Promise<void> {
    buildQemuArgv(spec, virtType, { qmpSocket: '/x', pidFile: '/x', vncSocket: '/x', qgaSocket: '/x' });
    await this.bridges.modeFor(nicsOf(spec));
  }

  private async state(vmId: string): Promise<DomainState> {
    const domain = await this.runtime(vmId);
    if (!domain) return 'shutoff';
    try {
      const status = await domain.qmp.execute<{ status: string }>('query-status');
      return QMP_STATUS[status.status] ?? 'nostate';
    } catch (error) {
      if (HypervisorError.is(error, 'HYPERVISOR_UNAVAILABLE')) return 'shutoff';
      throw error;
    }
  }

  /** The connected QEMU of a domain, attaching to a still-running one if needed. */
  private runtime(vmId: string): Promise<RunningDomain | undefined> {
    const known = this.running.get(vmId);
    if (known && !known.qmp.isClosed) return Promise.resolve(known);
    let pending = this.attaching.get(vmId);
    if (!pending) {
      pending = this.attach(vmId).finally(() => this.attaching.delete(vmId));
      this.attaching.set(vmId, pending);
    }
    return pending;
  }

  private async attach(vmId: string): Promise<RunningDomain | undefined> {
    const socket = this.store.qmpSocket(vmId);
    const pid = await readPid(this.store.pidFile(vmId));
    if (!pid || !(await isOurQemu(pid, socket))) return undefined;
    const qmp = await QmpClient.connect(socket, { commandTimeoutMs: this.options.commandTimeoutMs });
    const domain: RunningDomain = { vmId, pid, qmp, rebootPending: false, destroying: false, guestShutdown: false };
    this.running.set(vmId, domain);
    qmp.events$.subscribe((event) => void this.onQmpEvent(domain, event));
    qmp.closed$.subscribe({
      complete: () => {
        const cleanup = this.onExit(domain).catch((error: Error) =>
          this.logger.warn(`clean-up after QEMU of ${domainNameFor(vmId)} exited: ${error.message}`),
        );
        this.exiting.set(vmId, cleanup);
        void cleanup.finally(() => this.exiting.get(vmId) === cleanup && this.exiting.delete(vmId));
      },
    });
    // The guest powered off while nobody listened (-no-shutdown kept QEMU alive): finish it.
    const status = await qmp.execute<{ status: string }>('query-status');
    if (status.status === 'shutdown') {
      domain.guestShutdown = true;
      await qmp.execute('quit').catch(() => undefined);
      await this.waitForExit(domain, 10_000);
      return undefined;
    }
    return domain;
  }

  private async launch(vmId: string, loadSnapshot?: string): Promise<RunningDomain> {
    const stored = await this.requireDomain(vmId);
    if (await this.runtime(vmId))
      throw new HypervisorError('INVALID_STATE', `domain ${domainNameFor(vmId)} is already running`);
    await this.exiting.get(vmId);
    const paths = await this.prepareLaunchPaths(vmId, stored);
    const nics = nicsOf(stored.spec);
    const bridgeMode = await this.bridges.modeFor(nics);
    await this.bridges.assertBridgesExist(nics);
    const argv = buildQemuArgv(stored.spec, stored.virtType, paths, { bridgeMode });
    // -loadvm starts from a snapshot's RAM state; -S keeps it paused until revert decides.
    if (loadSnapshot) argv.push('-loadvm', loadSnapshot, '-S');
    try {
      // With -daemonize this returns once QEMU initialised (devices open, QMP listening).
      await runProcess(this.qemuBinary, argv, { timeoutMs: 60_000 });
    } catch (error) {
      throw new HypervisorError(
        'OPERATION_FAILED',
        `cannot start ${domainNameFor(vmId)}: ${(error as HypervisorError).detail?.trim() ?? (error as Error).message}`,
      );
    } finally {
      if (paths.vncSecretFile) await rm(paths.vncSecretFile, { force: true });
    }
    // An attach begun before QEMU daemonized (a state query or event racing this start) answers
    // "not running"; once it has settled, a fresh one sees the new QEMU.
    const domain = (await this.runtime(vmId)) ?? (await this.runtime(vmId));
    if (!domain)
      throw new HypervisorError('OPERATION_FAILED', `QEMU for ${domainNameFor(vmId)} exited right after start`);
    if (bridgeMode === 'tap') await this.plugTapsOrStop(domain, nics);
    const maxMemoryMiB = stored.spec.maxMemoryMiB ?? stored.spec.memoryMiB;
    if (stored.spec.memoryMiB < maxMemoryMiB) {
      await domain.qmp.execute('balloon', { value: stored.spec.memoryMiB * 1024 * 1024 }).catch(() => undefined);
    }
    this.emitLifecycle(vmId, 'started', loadSnapshot ? 'from snapshot' : 'booted');
    return domain;
  }

  /** Socket, pid and secret paths of a start, their folders made and stale files removed. */
  private async prepareLaunchPaths(vmId: string, stored: StoredDomain): Promise<QemuLaunchPaths> {
    const paths = {
      qmpSocket: this.store.qmpSocket(vmId),
      pidFile: this.store.pidFile(vmId),
      vncSocket: this.store.vncSocket(vmId),
      qgaSocket: this.store.qgaSocket(vmId),
      ...(stored.spec.vnc?.password ? { vncSecretFile: this.store.vncSecretFile(vmId) } : {}),
    };
    const sockets = [paths.qmpSocket, paths.vncSocket, paths.qgaSocket];
    const tooLong = sockets.find((socket) => Buffer.byteLength(socket) > MAX_UNIX_SOCKET_PATH);
    if (tooLong) {
      throw new HypervisorError(
        'INVALID_ARGUMENT',
        `state folder ${this.options.stateDir} is too long for a unix socket path (${tooLong})`,
      );
    }
    for (const socket of sockets) {
      await mkdir(dirname(socket), { recursive: true, mode: 0o700 });
      await rm(socket, { force: true });
    }
    await rm(paths.pidFile, { force: true });
    if (paths.vncSecretFile) await writeFile(paths.vncSecretFile, stored.spec.vnc?.password ?? '', { mode: 0o600 });
    return paths;
  }

  /** Tap mode: QEMU opened the taps; they join their bridges now, or the start is undone. */
  private async plugTapsOrStop(domain: RunningDomain, nics: NicSpec[]): Promise<void> {
    try {
      await this.bridges.plugTaps(domain.vmId, nics);
    } catch (error) {
      await this.destroy(domain.vmId).catch(() => undefined);
      throw error;
    }
  }

  private async onQmpEvent(domain: RunningDomain, event: QmpEvent): Promise<void> {
    switch (event.event) {
      case 'VSERPORT_CHANGE':
        if (event.data?.id === GUEST_AGENT_PORT_ID) this.agents.portChanged(domain.vmId, event.data.open === true);
        break;
      case 'DEVICE_DELETED': {
        // A NIC or disk the guest released (maybe after a detach gave up waiting): its backend goes too.
        const device = typeof event.data?.device === 'string' ? event.data.device : undefined;
        const nicId = nicIdFromAlias(device);
        for (const id of nicId ? [userNetdevId(nicId), tapNetdevId(nicId)] : [])
          await domain.qmp.execute('netdev_del', { id }).catch(() => undefined);
        const diskId = diskIdFromAlias(device);
        if (diskId) await removeDiskNode(domain.qmp, diskId).catch(() => undefined);
        break;
      }
      case 'STOP':
        this.emitLifecycle(domain.vmId, 'suspended', 'paused', event.timestamp);
        break;
      case 'RESUME':
        this.emitLifecycle(domain.vmId, 'resumed', 'unpaused', event.timestamp);
        break;
      case 'RESET':
        this.emit(
          { kind: 'other', name: 'reboot', detail: String(event.data?.reason ?? ''), timestamp: event.timestamp },
          domain.vmId,
        );
        break;
      case 'SHUTDOWN': {
        const guest = event.data?.guest === true;
        if (guest && domain.rebootPending) {
          domain.rebootPending = false;
          await domain.qmp.execute('system_reset').catch(() => undefined);
          await domain.qmp.execute('cont').catch(() => undefined);
          return;
        }
        domain.guestShutdown = guest;
        this.emitLifecycle(
          domain.vmId,
          'shutdown',
          guest ? 'finished after guest request' : 'finished after host request',
          event.timestamp,
        );
        // -no-shutdown left QEMU alive and stopped; a powered-off guest means the VM is off.
        if (guest) await domain.qmp.execute('quit').catch(() => undefined);
        break;
      }
      default:
        break;
    }
  }

  private async onExit(domain: RunningDomain): Promise<void> {
    if (this.running.get(domain.vmId) === domain) this.running.delete(domain.vmId);
    await this.waitForProcessGone(domain.pid, 5_000);
    await rm(this.store.pidFile(domain.vmId), { force: true }).catch(() => undefined);
    await rm(this.store.qmpSocket(domain.vmId), { force: true }).catch(() => undefined);
    await rm(this.store.vncSocket(domain.vmId), { force: true }).catch(() => undefined);
    await rm(this.store.qgaSocket(domain.vmId), { force: true }).catch(() => undefined);
    this.agents.forget(domain.vmId);
    const detail = domain.destroying ? 'destroyed' : domain.guestShutdown ? 'shutdown' : 'failed';
    if (detail === 'failed')
      this.logger.warn(`QEMU of ${domainNameFor(domain.vmId)} (pid ${domain.pid}) exited unexpectedly`);
    this.emitLifecycle(domain.vmId, detail === 'failed' ? 'crashed' : 'stopped', detail);
  }

  /** True once the QEMU process is gone (QMP closed and the pid exited). */
  private async waitForExit(domain: RunningDomain, timeoutMs: number): Promise<boolean> {
    return this.waitForProcessGone(domain.pid, timeoutMs, this.store.qmpSocket(domain.vmId));
  }

  private async waitForProcessGone(pid: number, timeoutMs: number, qmpSocket?: string): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const socket = qmpSocket ?? '';
    while (Date.now() < deadline) {
      if (!(await isOurQemu(pid, socket))) return true;
      await new Promise((resolve) => setTimeout(resolve, this.options.pollIntervalMs ?? 50));
    }
    return false;
  }

  private async hmp(domain: RunningDomain, commandLine: string, timeoutMs: number): Promise<void> {
    // HMP reports failures as text output rather than as QMP errors.
    const output = (await domain.qmp.humanMonitor(commandLine, timeoutMs)).trim();
    if (output) {
      const code = /not found|does not exist|no snapshot/i.test(output) ? 'SNAPSHOT_NOT_FOUND' : 'OPERATION_FAILED';
      throw new HypervisorError(code, `${commandLine.split(' ')[0]}: ${output}`, output);
    }
  }

  private qcow2Disks(stored: StoredDomain): string[] {
    return stored.spec.disks.filter((disk) => (disk.format ?? 'qcow2') === 'qcow2').map((disk) => disk.path);
  }

  /** From the cache of GuestAgents (port events, call outcomes, a background guest-ping when stale). */
  private guestAgentState(spec: DomainSpec, state: DomainState): DomainInfo['guestAgent'] {
    if (spec.guestAgent === false) return 'absent';
    if (state !== 'running' && state !== 'paused') return 'disconnected';
    const connected = this.agents.isConnected(spec.vmId, this.store.qgaSocket(spec.vmId), state === 'running');
    return connected ? 'connected' : 'disconnected';
  }

  private toInfo(stored: StoredDomain, state: DomainState): DomainInfo {
    const { spec } = stored;
    const nics = nicsOf(spec);
    const disks = diskInfosOf(spec);
    return {
      name: domainNameFor(spec.vmId),
      uuid: stored.uuid,
      vmId: spec.vmId,
      ownerId: spec.ownerId,
      ...(spec.title !== undefined ? { title: spec.title } : {}),
      ...(spec.description !== undefined ? { description: spec.description } : {}),
      state,
      persistent: true,
      vcpus: spec.vcpus,
      maxVcpus: spec.maxVcpus ?? spec.vcpus,
      memoryMiB: spec.memoryMiB,
      maxMemoryMiB: spec.maxMemoryMiB ?? spec.memoryMiB,
      virtType: stored.virtType,
      machine: spec.machine ?? 'q35',
      disks,
      ...(nics[0] ? { mac: nics[0].mac } : {}),
      nics: nics.map(({ id, mac, model, attachment }) => ({ id, mac, model, attachment })),
      guestAgent: this.guestAgentState(spec, state),
      serialLogPath: spec.serialLogPath,
      vncEnabled: spec.vnc?.enabled ?? false,
      // Direct kernel boot bypasses the firmware boot order (see buildQemuArgv).
      ...(spec.kernel ? {} : { bootOrder: spec.bootOrder ?? ['hd'] }),
    };
  }

  private emitLifecycle(vmId: string, type: LifecycleEventType, detail: string, timestamp = new Date()): void {
    this.emit({ kind: 'lifecycle', type, detail, timestamp }, vmId);
  }

  private emit(
    event:
      | { kind: 'lifecycle'; type: LifecycleEventType; detail: string; timestamp: Date }
      | { kind: 'other'; name: string; detail: string; timestamp: Date },
    vmId: string,
  ): void {
    this.subject.next({ ...event, domainName: domainNameFor(vmId), vmId } as DomainEvent);
  }

  // ---- copies ----

  beginDiskBackup(vmId: string, targets: DiskBackupTarget[]): Promise<void> {
    return this.copies.beginDiskBackup(vmId, targets);
  }

  waitDiskBackup(vmId: string, options?: { timeoutMs?: number }): Promise<void> {
    return this.copies.waitDiskBackup(vmId, options);
  }

  abortDiskBackup(vmId: string): Promise<void> {
    return this.copies.abortDiskBackup(vmId);
  }

  exportVolume(source: VolumeRef, localPath: string, options: VolumeExportOptions): Promise<VolumeExportInfo> {
    return this.copies.exportVolume(source, localPath, options);
  }
}
