import { readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Duplex } from 'node:stream';
import { defer, finalize, Observable, share } from 'rxjs';
import { HypervisorError } from '../../errors/hypervisor-error';
import { VirshEventStream } from '../../events/virsh-event-stream';
import { withScratchDir } from '../../host/scratch-dir';
import { VirtTypeResolver } from '../../host/virt-type-resolver';
import { screenshotToPng } from '../../image/screenshot-png';
import { openConsoleStream } from '../../console/console-stream';
import { tailFile } from '../../console/serial-log';
import {
  AddressSource,
  ConsoleType,
  DhcpLease,
  DomainEvent,
  DomainInfo,
  DomainSpec,
  DomainState,
  DomainStats,
  DiskBackupTarget,
  DiskSpec,
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
import { assertSnapshotName, domainNameFor, DOMAIN_NAME_PREFIX } from '../../naming/domain-name';
import { ShutdownOptions, ShutdownResult, UndefineOptions, VirtualizationPort } from '../../port/virtualization-port';
import { isLocalLibvirtUri } from '../../transport/libvirt-uri';
import { LibLogger, silentLogger } from '../../transport/logger';
import { VirshCommand } from '../../transport/virsh-command';
import { VirshPool } from '../../transport/virsh-pool';
import { QemuImg } from '../../volumes/qemu-img';
import { SeedIsoWriter } from '../../volumes/seed-iso';
import { buildDomainXml } from '../../xml/domain-xml-builder';
import { withForwardsOf } from '../../xml/nic-xml';
import { machineFamily, ParsedDomain, parseDomainXml } from '../../xml/domain-xml-parser';
import { CDROM_TARGET, validateDomainSpec } from '../../xml/spec-validation';
import { parseDomstats, RuntimeState, runtimeStateOf, splitDomstats } from './domstats-parser';
import { parseHostCapabilities } from './host-capabilities-parser';
import { LibvirtCopies } from './libvirt-copies';
import { LibvirtDisks } from './libvirt-disks';
import { LibvirtGuestAgent } from './libvirt-guest-agent';
import { LibvirtNetworks } from './libvirt-networks';
import { LibvirtNics } from './libvirt-nics';
import { LibvirtQmp } from './libvirt-qmp';
import { LibvirtStorage } from './libvirt-storage';
import { buildSnapshotXml, parseSnapshotXml } from './snapshot-xml';

export interface LibvirtAdapterOptions {
  pool: VirshPool;
  /**
   * The session that answers getHostCapabilities, the liveness probe of the host monitor, readiness
   * and alerting. Default: one session of its own. Queued in `pool` behind the host's own work (a
   * `virsh start` under TCG holds a session for seconds), a probe timed out and a busy, healthy host
   * was declared down: its VMs turned unknown and creates were refused for capacity.
   */
  probePool?: VirshPool;
  virtTypes: VirtTypeResolver;
  uri: string;
  virshPath?: string;
  seedIsoWriter?: SeedIsoWriter;
  logger?: LibLogger;
  /** How often shutdown() polls the state while waiting for the guest. */
  pollIntervalMs?: number;
}

const STATS_GROUPS = ['state', 'cpu-total', 'balloon', 'vcpu', 'interface', 'block'];

/** VirtualizationPort over libvirtd, through a pool of persistent virsh sessions. */
export class LibvirtAdapter implements VirtualizationPort {
  private readonly pool: VirshPool;
  private readonly probePool: VirshPool;
  private readonly logger: LibLogger;
  /** Whether the URI reaches this machine's libvirtd, whose files the api may read and remove itself. */
  private readonly local: boolean;
  private readonly eventStream: VirshEventStream;
  private readonly sharedEvents: Observable<DomainEvent>;
  /** QMP passthrough for what libvirt has no command of its own for. */
  readonly qmp: LibvirtQmp;
  private readonly networks: LibvirtNetworks;
  private readonly nics: LibvirtNics;
  private readonly agent: LibvirtGuestAgent;
  private readonly storage: LibvirtStorage;
  private readonly disks: LibvirtDisks;
  private readonly copies: LibvirtCopies;

  constructor(private readonly options: LibvirtAdapterOptions) {
    this.pool = options.pool;
    this.probePool =
      options.probePool ??
      new VirshPool({ uri: options.uri, size: 1, virshPath: options.virshPath, logger: options.logger });
    this.logger = options.logger ?? silentLogger;
    this.local = isLocalLibvirtUri(options.uri);
    this.qmp = new LibvirtQmp(this.pool);
    this.networks = new LibvirtNetworks(this.pool, isLocalLibvirtUri(options.uri), this.logger);
    this.nics = new LibvirtNics({
      pool: this.pool,
      isActive: async (name) => isActive(await this.state(name)),
      pollIntervalMs: options.pollIntervalMs,
    });
    this.agent = new LibvirtGuestAgent(this.pool, options.pollIntervalMs);
    this.storage = new LibvirtStorage({
      pool: this.pool,
      virshPath: options.virshPath,
      seedIsoWriter: options.seedIsoWriter,
      logger: this.logger,
    });
    this.disks = new LibvirtDisks({
      pool: this.pool,
      isActive: async (name) => isActive(await this.state(name)),
      pollIntervalMs: options.pollIntervalMs,
    });
    this.copies = new LibvirtCopies({
      pool: this.pool,
      state: (name) => this.state(name),
      pollIntervalMs: options.pollIntervalMs,
      storage: this.storage,
      local: this.local,
      qemuImg: new QemuImg(),
      logger: this.logger,
    });
    this.eventStream = new VirshEventStream({ uri: options.uri, virshPath: options.virshPath, logger: this.logger });
    // One virsh event process however many subscribers; it stops when the last one leaves.
    this.sharedEvents = defer(() => {
      this.eventStream.start();
      return this.eventStream.events$.pipe(finalize(() => this.eventStream.stop()));
    }).pipe(share());
  }

  /** The event watcher (exposed so tests can kill its process). */
  get eventSource(): VirshEventStream {
    return this.eventStream;
  }

  async getHostCapabilities(): Promise<HostCapabilities> {
    const [version, nodeinfo, capabilities, virtTypes, defaultVirtType] = await Promise.all([
      this.probePool.run({ name: 'version' }),
      this.probePool.run({ name: 'nodeinfo' }),
      this.probePool.run({ name: 'capabilities' }),
      this.options.virtTypes.usableTypes(),
      this.options.virtTypes.resolve(),
    ]);
    return parseHostCapabilities({ version, nodeinfo, capabilities, virtTypes, defaultVirtType, hostname: hostname() });
  }

  async listDomains(): Promise<DomainInfo[]> {
    const states = await this.allRuntimeStates();
    const names = [...states.keys()].filter((name) => name.startsWith(DOMAIN_NAME_PREFIX));
    const domains = await Promise.all(
      names.map(async (name) => {
        try {
          const state = states.get(name) ?? { state: 'nostate' };
          return this.toInfo(await this.currentXml(name, state.state), state);
        } catch (error) {
          // Undefined between the two calls: it is simply no longer there.
          if (HypervisorError.is(error, 'DOMAIN_NOT_FOUND')) return undefined;
          throw error;
        }
      }),
    );
    return domains.filter((d): d is DomainInfo => d !== undefined && d.vmId !== undefined);
  }

  async getDomain(vmId: string): Promise<DomainInfo> {
    const name = domainNameFor(vmId);
    const state = await this.runtimeState(name);
    return this.toInfo(await this.currentXml(name, state.state), state);
  }

  async defineDomain(spec: DomainSpec): Promise<DomainInfo> {
    const virtType = spec.virtType ?? (await this.options.virtTypes.resolve());
    const xml = buildDomainXml(spec, virtType);
    const name = domainNameFor(spec.vmId);
    // `virsh define` silently replaces an existing definition; a create must not do that.
    if (await this.exists(name)) throw new HypervisorError('DOMAIN_EXISTS', `domain ${name} already exists`);
    await withScratchDir(async (dir) => {
      const file = join(dir, 'domain.xml');
      await writeFile(file, xml, { mode: 0o600 });
      await this.pool.run({ name: 'define', options: { file }, flags: ['validate'] });
    });
    return this.getDomain(spec.vmId);
  }

  async redefineDomain(spec: DomainSpec): Promise<DomainInfo> {
    validateDomainSpec(spec);
    const name = domainNameFor(spec.vmId);
    // The persistent definition: its UUID must go into the new XML (libvirt refuses a define
    // that reuses the name with another UUID), and its metadata says who owns the domain.
    const current = await this.dumpXml(name, true);
    assertSameOwner(name, current, spec);
    const xml = buildDomainXml(spec, spec.virtType ?? current.virtType, { uuid: current.uuid });
    // `define` over an existing persistent domain replaces its config only: a running domain
    // keeps its live definition until it is next started, and snapshot metadata stays.
    await withScratchDir(async (dir) => {
      const file = join(dir, 'domain.xml');
      await writeFile(file, xml, { mode: 0o600 });
      await this.pool.run({ name: 'define', options: { file }, flags: ['validate'] });
    });
    const [parsed, state] = await Promise.all([this.dumpXml(name, true), this.runtimeState(name)]);
    return this.toInfo(parsed, state);
  }

  async undefineDomain(vmId: string, options: UndefineOptions = {}): Promise<void> {
    const name = domainNameFor(vmId);
    const [parsed, state] = await Promise.all([this.dumpXml(name, true), this.state(name)]);
    if (state !== 'shutoff')
      throw new HypervisorError('INVALID_STATE', `domain ${name} must be stopped to be deleted (it is ${state})`);
    // Internal snapshots live inside the qcow2 files; only libvirt's metadata about them goes here.
    await this.pool.run({
      name: 'undefine',
      options: { domain: name },
      flags: ['snapshots-metadata', options.removeNvram ? 'nvram' : 'keep-nvram'],
    });
    const files = new Set<string>();
    for (const disk of parsed.disks) {
      if (!disk.path) continue;
      if (disk.device === 'disk' && options.removeVolumes) files.add(disk.path);
      if (disk.seed && options.removeSeedIso) files.add(disk.path);
    }
    if (options.removeVolumes && parsed.serialLogPath) files.add(parsed.serialLogPath);
    if (options.removeSeedIso && parsed.metadata?.seedIsoPath) files.add(parsed.metadata.seedIsoPath);
    // Through the pools holding them, so a remote host is cleaned up too.
    for (const file of files) await this.storage.deleteVolumeByPath(file);
    // A VM made before storage pools kept its files in a folder named after it, under VM_DIR on
    // this machine (remote hosts had to share that folder then): it goes with them.
    const folders = new Set([...files].map(dirname).filter((folder) => basename(folder) === vmId));
    if (this.local) for (const folder of folders) await rm(folder, { recursive: true, force: true });
  }

  async start(vmId: string): Promise<void> {
    await this.domainCommand('start', vmId);
  }

  async shutdown(vmId: string, options: ShutdownOptions = {}): Promise<ShutdownResult> {
    const name = domainNameFor(vmId);
    const timeoutMs = options.timeoutMs ?? 60_000;
    await this.pool.run({ name: 'shutdown', options: { domain: name, mode: 'acpi' } });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await this.state(name)) === 'shutoff') return { forced: false };
      await sleep(this.options.pollIntervalMs ?? 200);
    }
    if (!options.forceAfterTimeout) {
      throw new HypervisorError('TIMEOUT', `domain ${name} did not shut down within ${timeoutMs} ms`);
    }
    try {
      await this.destroy(vmId);
    } catch (error) {
      // It may have stopped by itself between the last poll and the destroy.
      if (!HypervisorError.is(error, 'INVALID_STATE')) throw error;
      return { forced: false };
    }
    return { forced: true };
  }

  async destroy(vmId: string): Promise<void> {
    await this.domainCommand('destroy', vmId);
  }

  async reboot(vmId: string): Promise<void> {
    await this.pool.run({ name: 'reboot', options: { domain: domainNameFor(vmId), mode: 'acpi' } });
  }

  async reset(vmId: string): Promise<void> {
    await this.domainCommand('reset', vmId);
  }

  async suspend(vmId: string): Promise<void> {
    await this.domainCommand('suspend', vmId);
  }

  async resume(vmId: string): Promise<void> {
    await this.domainCommand('resume', vmId);
  }

  /**
   * The definition's maximum follows the count both ways, so what the domain can boot with is
   * exactly what was asked for (a lowered count under an old, higher maximum would let the guest
   * hot-plug back up). A running domain keeps its boot-time maximum; within it the count changes live.
   */
  async setVcpus(vmId: string, vcpus: number): Promise<SetResourceResult> {
    if (!Number.isInteger(vcpus) || vcpus < 1)
      throw new HypervisorError('INVALID_ARGUMENT', 'vcpus must be a positive integer');
    const name = domainNameFor(vmId);
    const [config, state] = await Promise.all([this.dumpXml(name, true), this.state(name)]);
    const count = { name: 'setvcpus', options: { domain: name, count: vcpus } };
    // The current count may never exceed the maximum: raise the maximum first, lower it last.
    if (vcpus > config.maxVcpus) await this.pool.run({ ...count, flags: ['maximum', 'config'] });
    await this.pool.run({ ...count, flags: ['config'] });
    if (vcpus < config.maxVcpus) await this.pool.run({ ...count, flags: ['maximum', 'config'] });
    const live =
      isActive(state) &&
      vcpus <= (await this.dumpXml(name)).maxVcpus &&
      (await this.tryLive({ ...count, flags: ['live'] }));
    return { config: true, live };
  }

  /** Like setVcpus: `<memory>` (the maximum) and `<currentMemory>` of the definition both become memoryMiB. */
  async setMemory(vmId: string, memoryMiB: number): Promise<SetResourceResult> {
    if (!Number.isInteger(memoryMiB) || memoryMiB < 1)
      throw new HypervisorError('INVALID_ARGUMENT', 'memoryMiB must be a positive integer');
    const name = domainNameFor(vmId);
    const [config, state] = await Promise.all([this.dumpXml(name, true), this.state(name)]);
    const kib = memoryMiB * 1024;
    if (memoryMiB > config.maxMemoryMiB)
      await this.pool.run({ name: 'setmaxmem', options: { domain: name, size: kib }, flags: ['config'] });
    await this.pool.run({ name: 'setmem', options: { domain: name, size: kib }, flags: ['config'] });
    if (memoryMiB < config.maxMemoryMiB)
      await this.pool.run({ name: 'setmaxmem', options: { domain: name, size: kib }, flags: ['config'] });
    // Live changes go through the balloon and cannot exceed the boot-time maximum.
    const live =
      isActive(state) &&
      memoryMiB <= (await this.dumpXml(name)).maxMemoryMiB &&
      (await this.tryLive({ name: 'setmem', options: { domain: name, size: kib }, flags: ['live'] }));
    return { config: true, live };
  }

  async insertCdrom(vmId: string, isoPath: string): Promise<void> {
    const name = domainNameFor(vmId);
    await this.assertHasCdrom(name);
    const flags = [...(await this.changeFlags(name)), 'force'];
    await this.pool.run({
      name: 'change-media',
      options: { domain: name, path: CDROM_TARGET, source: isoPath },
      flags: ['update', ...flags],
    });
  }

  async ejectCdrom(vmId: string): Promise<void> {
    const name = domainNameFor(vmId);
    const drive = await this.assertHasCdrom(name);
    if (!drive.path) return;
    const flags = [...(await this.changeFlags(name)), 'force'];
    await this.pool.run({
      name: 'change-media',
      options: { domain: name, path: CDROM_TARGET },
      flags: ['eject', ...flags],
    });
  }

  async createSnapshot(vmId: string, spec: SnapshotCreateSpec): Promise<SnapshotInfo> {
    assertSnapshotName(spec.name);
    const name = domainNameFor(vmId);
    await withScratchDir(async (dir) => {
      const file = join(dir, 'snapshot.xml');
      await writeFile(file, buildSnapshotXml(spec), { mode: 0o600 });
      // Saving RAM under TCG takes a while; allow far more than a normal command.
      await this.pool.run(
        { name: 'snapshot-create', options: { domain: name, xmlfile: file }, flags: ['atomic'] },
        { timeoutMs: 300_000 },
      );
    });
    return this.snapshotInfo(name, spec.name, await this.currentSnapshot(name));
  }

  async listSnapshots(vmId: string): Promise<SnapshotInfo[]> {
    const name = domainNameFor(vmId);
    const [list, current] = await Promise.all([
      this.pool.run({ name: 'snapshot-list', options: { domain: name }, flags: ['name', 'topological'] }),
      this.currentSnapshot(name),
    ]);
    const names = list
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    return Promise.all(names.map((snapshot) => this.snapshotInfo(name, snapshot, current)));
  }

  async revertSnapshot(vmId: string, snapshotName: string): Promise<void> {
    assertSnapshotName(snapshotName);
    await this.pool.run(
      { name: 'snapshot-revert', options: { domain: domainNameFor(vmId), snapshotname: snapshotName } },
      { timeoutMs: 300_000 },
    );
  }

  async deleteSnapshot(vmId: string, snapshotName: string): Promise<void> {
    assertSnapshotName(snapshotName);
    await this.pool.run(
      { name: 'snapshot-delete', options: { domain: domainNameFor(vmId), snapshotname: snapshotName } },
      { timeoutMs: 300_000 },
    );
  }

  async getStats(vmId: string): Promise<DomainStats> {
    const output = await this.pool.run({ name: 'domstats', flags: STATS_GROUPS, rest: [domainNameFor(vmId)] });
    const [stats] = parseDomstats(output);
    if (!stats) throw new HypervisorError('DOMAIN_NOT_FOUND', `no statistics for ${domainNameFor(vmId)}`);
    return stats;
  }

  async getAllStats(): Promise<DomainStats[]> {
    const output = await this.pool.run({ name: 'domstats', flags: STATS_GROUPS });
    return parseDomstats(output).filter((stats) => stats.vmId !== undefined);
  }

  async getVncEndpoint(vmId: string): Promise<VncEndpoint | null> {
    const parsed = await this.dumpXml(domainNameFor(vmId));
    return parsed.vncSocketPath ? { socketPath: parsed.vncSocketPath } : null;
  }

  async getSerialConsole(vmId: string): Promise<SerialConsoleInfo> {
    const parsed = await this.dumpXml(domainNameFor(vmId));
    return {
      ...(parsed.serialPtyPath ? { ptyPath: parsed.serialPtyPath } : {}),
      ...(parsed.serialLogPath ? { logPath: parsed.serialLogPath } : {}),
    };
  }

  async tailSerialLog(vmId: string, maxBytes?: number): Promise<string> {
    const parsed = await this.dumpXml(domainNameFor(vmId), true);
    if (!parsed.serialLogPath) return '';
    // A remote host's log is no file of this machine: it is read through the pool holding it.
    return this.local
      ? tailFile(parsed.serialLogPath, maxBytes)
      : this.storage.tailFile(parsed.serialLogPath, maxBytes);
  }

  openConsole(vmId: string, type: ConsoleType): Promise<Duplex> {
    return openConsoleStream(this, vmId, type);
  }

  async screenshot(vmId: string): Promise<Buffer> {
    const name = domainNameFor(vmId);
    return withScratchDir(async (dir) => {
      const file = join(dir, 'screen');
      await this.pool.run({ name: 'screenshot', options: { domain: name, file, screen: 0 } });
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

  // ---- networks, NICs and the guest agent ----

  ensureNetwork(definition: NetworkDefinition): Promise<NetworkInfo> {
    return this.networks.ensure(definition);
  }

  removeNetwork(name: string): Promise<void> {
    return this.networks.remove(name);
  }

  listNetworks(): Promise<NetworkInfo[]> {
    return this.networks.list();
  }

  listHostRoutes(): Promise<string[]> {
    return this.networks.hostRoutes();
  }

  hasBridge(name: string): Promise<boolean> {
    return this.networks.hasBridge(name);
  }

  getDhcpLeases(network: string): Promise<DhcpLease[]> {
    return this.networks.leases(network);
  }

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

  getInterfaceAddresses(vmId: string, source: AddressSource): Promise<InterfaceAddress[]> {
    return this.agent.interfaceAddresses(vmId, source);
  }

  getGuestInfo(vmId: string): Promise<GuestInfo> {
    return this.agent.guestInfo(vmId);
  }

  guestExec(
    vmId: string,
    command: string[],
    options?: { timeoutMs?: number; input?: string },
  ): Promise<GuestExecResult> {
    return this.agent.exec(vmId, command, options);
  }

  freezeFilesystems(vmId: string): Promise<number> {
    return this.agent.freeze(vmId, false);
  }

  thawFilesystems(vmId: string): Promise<number> {
    return this.agent.freeze(vmId, true);
  }

  events(): Observable<DomainEvent> {
    return this.sharedEvents;
  }

  async close(): Promise<void> {
    this.eventStream.stop();
    await Promise.all([this.pool.close(), this.probePool.close()]);
  }

  private async domainCommand(command: string, vmId: string): Promise<void> {
    await this.pool.run({ name: command, options: { domain: domainNameFor(vmId) } });
  }

  private async dumpXml(name: string, inactive = false): Promise<ParsedDomain> {
    const xml = await this.pool.run({
      name: 'dumpxml',
      options: { domain: name },
      flags: inactive ? ['inactive'] : [],
    });
    return parseDomainXml(xml);
  }

  /**
   * The live definition while QEMU runs, as libvirt reports it, except for the port forwards of
   * user-mode NICs: QEMU's command line in the live XML never changes, while addPortForward and
   * removePortForward change the running QEMU and the persistent definition together.
   */
  private async currentXml(name: string, state: DomainState): Promise<ParsedDomain> {
    const live = await this.dumpXml(name);
    if (!isActive(state) || !live.nics.some((nic) => nic.attachment.type === 'user')) return live;
    return { ...live, nics: withForwardsOf(live.nics, (await this.dumpXml(name, true)).nics) };
  }

  private async state(name: string): Promise<DomainState> {
    return (await this.runtimeState(name)).state;
  }

  private async runtimeState(name: string): Promise<RuntimeState> {
    const output = await this.pool.run({ name: 'domstats', flags: ['state'], rest: [name] });
    const [entry] = splitDomstats(output);
    return runtimeStateOf(entry?.fields ?? new Map());
  }

  private async allRuntimeStates(): Promise<Map<string, RuntimeState>> {
    const output = await this.pool.run({ name: 'domstats', flags: ['state'] });
    return new Map(splitDomstats(output).map(({ name, fields }) => [name, runtimeStateOf(fields)]));
  }

  private async exists(name: string): Promise<boolean> {
    try {
      await this.pool.run({ name: 'domuuid', options: { domain: name } });
      return true;
    } catch (error) {
      if (HypervisorError.is(error, 'DOMAIN_NOT_FOUND')) return false;
      throw error;
    }
  }

  private toInfo(parsed: ParsedDomain, { state, shutoffReason }: RuntimeState): DomainInfo {
    return {
      name: parsed.name,
      uuid: parsed.uuid,
      ...(parsed.metadata ? { vmId: parsed.metadata.vmId, ownerId: parsed.metadata.ownerId } : {}),
      ...(parsed.title !== undefined ? { title: parsed.title } : {}),
      ...(parsed.description !== undefined ? { description: parsed.description } : {}),
      state,
      ...(shutoffReason ? { shutoffReason } : {}),
      persistent: true,
      vcpus: parsed.vcpus,
      maxVcpus: parsed.maxVcpus,
      memoryMiB: parsed.memoryMiB,
      maxMemoryMiB: parsed.maxMemoryMiB,
      virtType: parsed.virtType,
      machine: machineFamily(parsed.machine),
      disks: parsed.disks,
      ...(parsed.mac ? { mac: parsed.mac } : {}),
      nics: parsed.nics,
      guestAgent: parsed.guestAgent,
      ...(parsed.serialLogPath ? { serialLogPath: parsed.serialLogPath } : {}),
      vncEnabled: parsed.vncEnabled,
      ...(parsed.bootOrder ? { bootOrder: parsed.bootOrder } : {}),
    };
  }

  /** Live changes are best effort (hot-plug needs guest support); the config change stands. */
  private async tryLive(command: VirshCommand): Promise<boolean> {
    try {
      await this.pool.run(command);
      return true;
    } catch (error) {
      this.logger.warn(`live ${command.name} not applied: ${(error as Error).message}`);
      return false;
    }
  }

  private async assertHasCdrom(name: string): Promise<{ path?: string }> {
    const parsed = await this.dumpXml(name);
    const drive = parsed.disks.find((disk) => disk.device === 'cdrom' && disk.target === CDROM_TARGET);
    if (!drive) throw new HypervisorError('INVALID_STATE', `domain ${name} has no CD-ROM drive`);
    return drive;
  }

  private async changeFlags(name: string): Promise<string[]> {
    return isActive(await this.state(name)) ? ['live', 'config'] : ['config'];
  }

  private async currentSnapshot(name: string): Promise<string | undefined> {
    try {
      return (
        (await this.pool.run({ name: 'snapshot-current', options: { domain: name }, flags: ['name'] })).trim() ||
        undefined
      );
    } catch (error) {
      // "domain has no current snapshot" is not a failure.
      if (HypervisorError.is(error, 'DOMAIN_NOT_FOUND')) throw error;
      return undefined;
    }
  }

  private async snapshotInfo(domain: string, snapshot: string, current: string | undefined): Promise<SnapshotInfo> {
    const xml = await this.pool.run({ name: 'snapshot-dumpxml', options: { domain, snapshotname: snapshot } });
    return parseSnapshotXml(xml, current);
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

/** redefineDomain only rewrites LIMEN domains, and never hands one to another owner. */
function assertSameOwner(name: string, current: ParsedDomain, spec: DomainSpec): void {
  if (!current.metadata || current.metadata.vmId !== spec.vmId) {
    throw new HypervisorError('INVALID_ARGUMENT', `domain ${name} carries no LIMEN metadata for VM ${spec.vmId}`);
  }
  if (current.metadata.ownerId !== spec.ownerId) {
    throw new HypervisorError(
      'INVALID_ARGUMENT',
      `domain ${name} belongs to another owner; the owner of a domain cannot change`,
    );
  }
}

function isActive(state: DomainState): boolean {
  return state === 'running' || state === 'paused' || state === 'blocked' || state === 'pmsuspended';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
