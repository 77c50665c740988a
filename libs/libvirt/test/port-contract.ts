import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Subscription } from 'rxjs';
import { HypervisorError } from '../src/errors/hypervisor-error';
import { BootDevice, DomainEvent, DomainSpec, StoragePoolDefinition } from '../src/models';
import { diskVolumeName, seedVolumeName, serialLogName } from '../src/naming/storage-name';
import { VirtualizationPort } from '../src/port/virtualization-port';
import { GUEST_MARKER, TestGuest, waitFor } from './guest-fixture';
import {
  contractNetwork,
  describeNetworkRemoval,
  describeNetworks,
  describeNicDefinitions,
  describeRunningNetworking,
  NetworkingCapabilities,
  NetworkingRun,
} from './port-contract-networking';
import {
  ContractFiles,
  contractPools,
  describeRunningDisks,
  describeStoppedDisks,
  describeStoragePools,
  describeVolumes,
  StorageCapabilities,
  StorageRun,
} from './port-contract-storage';

export type { ContractFiles } from './port-contract-storage';

export interface ContractSetup {
  port: VirtualizationPort;
  /** Per-run folder QEMU can traverse, on the hypervisor's side (the run's pools are folders in it). */
  runDir: string;
  /** A folder of the machine running the suite, for the local side of uploads and downloads. */
  localDir: string;
  files: ContractFiles;
  /** The tiny test guest: it prints GUEST_MARKER on its serial port at each boot. */
  guest: TestGuest;
  /** Removes what is left of the run, its storage pools (by name) included. */
  cleanup(pools: string[]): void;
}

export interface ContractHarness {
  /**
   * Whether a real guest runs behind the port. Without one (the fake), the cases that need a
   * real pty or VNC server are skipped; everything else runs the same.
   */
  realGuest: boolean;
  /** What the adapter supports of networking; the cases of the rest are skipped. Default: everything. */
  networking?: Partial<NetworkingCapabilities>;
  /** What the adapter supports of disk changes; the cases of the rest are skipped. Default: everything. */
  storage?: Partial<StorageCapabilities>;
  setUp(): Promise<ContractSetup>;
}

const HOSTILE_TITLE = `<title>&amp; "quoted" 'single' ]]> </domain><name>evil</name> ✓`;
const HOSTILE_DESCRIPTION = `line1 <script>alert(1)</script>\nline2 & ; $(rm -rf /) \`id\` \\ --destroy`;
const MIB = 1024 * 1024;

function countMarkers(log: string): number {
  return log.split(GUEST_MARKER).length - 1;
}

/** The first bytes a stream delivers. */
function firstChunk(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no data on the console')), 10_000);
    stream.once('error', reject);
    stream.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      resolve(chunk);
    });
  });
}

/** The state the steps of one contract run share: one main VM and one firmware-booted VM. */
class ContractRun implements NetworkingRun, StorageRun {
  readonly vmId = randomUUID();
  readonly firmwareVmId = randomUUID();
  readonly nicVmId = randomUUID();
  readonly bootDiskId = randomUUID();
  readonly network = contractNetwork();
  readonly firmwareOwner = `owner-${randomUUID()}`;
  readonly events: DomainEvent[] = [];
  setup!: ContractSetup;
  pool!: StoragePoolDefinition;
  otherPool!: StoragePoolDefinition;
  iso!: string;
  private subscription?: Subscription;

  get port(): VirtualizationPort {
    return this.setup.port;
  }

  get files(): ContractFiles {
    return this.setup.files;
  }

  get dir(): string {
    return this.setup.runDir;
  }

  get localDir(): string {
    return this.setup.localDir;
  }

  get diskPath(): string {
    return join(this.pool.path, diskVolumeName(this.vmId, this.bootDiskId));
  }

  get seedPath(): string {
    return join(this.pool.path, seedVolumeName(this.vmId));
  }

  get serialLogPath(): string {
    return join(this.pool.path, serialLogName(this.vmId));
  }

  async start(harness: ContractHarness): Promise<void> {
    this.setup = await harness.setUp();
    ({ pool: this.pool, otherPool: this.otherPool } = contractPools(this.dir));
    this.iso = this.files.makeIso(this.dir, 'media');
    this.subscription = this.port.events().subscribe((event) => this.events.push(event));
  }

  /** Cleans up even after a failure in the middle of the sequence. */
  async stop(): Promise<void> {
    for (const id of [this.vmId, this.firmwareVmId, this.nicVmId]) {
      await this.port.destroy(id).catch(() => undefined);
      await this.port.undefineDomain(id, { removeVolumes: true, removeSeedIso: true }).catch(() => undefined);
    }
    await this.port.removeNetwork(this.network.name).catch(() => undefined);
    this.subscription?.unsubscribe();
    await this.port.close();
    this.setup.cleanup([this.pool.name, this.otherPool.name]);
  }

  async state(): Promise<string> {
    return (await this.port.getDomain(this.vmId)).state;
  }

  async markers(): Promise<number> {
    return countMarkers(await this.port.tailSerialLog(this.vmId));
  }

  /** The main VM: boots the test guest's kernel directly, with hostile user strings. */
  spec(): DomainSpec {
    const { guest } = this.setup;
    return {
      vmId: this.vmId,
      ownerId: `owner-${randomUUID()}`,
      title: HOSTILE_TITLE,
      description: HOSTILE_DESCRIPTION,
      vcpus: 1,
      maxVcpus: 2,
      memoryMiB: 256,
      maxMemoryMiB: 384,
      virtType: 'qemu',
      machine: 'q35',
      disks: [{ id: this.bootDiskId, path: this.diskPath, serial: 'limen-boot' }],
      cdrom: {},
      seedIsoPath: this.seedPath,
      vnc: { enabled: true, password: 'secret1' },
      serialLogPath: this.serialLogPath,
      kernel: { kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, cmdline: guest.cmdline },
    };
  }

  get firmwareDiskPath(): string {
    return join(this.pool.path, diskVolumeName(this.firmwareVmId, this.bootDiskId));
  }

  /**
   * A second domain booting through the firmware (the main one boots a kernel directly, where
   * the boot order does not apply), like a VM installed from an ISO.
   */
  firmwareSpec(bootOrder: BootDevice[], title = 'installer'): DomainSpec {
    return {
      vmId: this.firmwareVmId,
      ownerId: this.firmwareOwner,
      title,
      vcpus: 1,
      memoryMiB: 128,
      virtType: 'qemu',
      machine: 'q35',
      disks: [{ path: this.firmwareDiskPath }],
      cdrom: { isoPath: this.iso },
      nics: [],
      serialLogPath: join(this.pool.path, serialLogName(this.firmwareVmId)),
      bootOrder,
    };
  }
}

/**
 * The VirtualizationPort contract, run unchanged against every adapter on the real hypervisor
 * with the tiny test guest (TCG), and against the in-memory fake. Steps run in order and share
 * one VM.
 */
export function describePortContract(adapterName: string, harness: ContractHarness): void {
  describe(`VirtualizationPort contract: ${adapterName}`, () => {
    const run = new ContractRun();
    const withRealGuest = harness.realGuest ? it : it.skip;
    const networking = {
      managedNetworks: true,
      nicChanges: true,
      guestAgent: true,
      userNicHotPlug: false,
      ...harness.networking,
    };
    const storage = { diskChanges: true, diskHotPlug: true, scsiHotPlug: true, ...harness.storage };
    beforeAll(() => run.start(harness));
    afterAll(() => run.stop());

    describeHost(run);
    describeStoragePools(() => run);
    describeVolumes(() => run);
    describeDefinitions(run);
    describeRedefinition(run);
    describeStoppedDisks(() => run, storage);
    describeNetworks(() => run, networking);
    describeNicDefinitions(() => run, networking);
    describeOfflineSnapshot(run);
    describeRunningGuest(run, adapterName, withRealGuest);
    describeConsoles(run, withRealGuest);
    describeLiveChanges(run);
    describeRunningNetworking(() => run, networking);
    describeRunningDisks(() => run, storage);
    describePowerOff(run);
    describeNetworkRemoval(() => run, networking);
  });
}

function describeHost(run: ContractRun): void {
  it('reports host capabilities', async () => {
    const caps = await run.port.getHostCapabilities();
    expect(caps.cpus).toBeGreaterThan(0);
    expect(caps.memoryMiB).toBeGreaterThan(0);
    expect(caps.virtTypes).toContain('qemu');
    expect(caps.qemuVersion).toMatch(/^\d+\.\d+/);
    expect(caps.machines.some((machine) => machine.includes('q35'))).toBe(true);
  });
}

function describeDefinitions(run: ContractRun): void {
  it('defines a domain named from the VM id, with metadata and escaped user strings', async () => {
    const { port, vmId } = run;
    const info = await port.defineDomain(run.spec());
    expect(info.name).toBe(`limen-${vmId}`);
    expect(info.vmId).toBe(vmId);
    expect(info.ownerId).toMatch(/^owner-/);
    expect(info.title).toBe(HOSTILE_TITLE);
    expect(info.description).toBe(HOSTILE_DESCRIPTION);
    expect(info.state).toBe('shutoff');
    expect(info.mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(info.disks.find((disk) => disk.device === 'disk')?.path).toBe(run.diskPath);
    expect(info.disks.filter((disk) => disk.seed)).toEqual([
      expect.objectContaining({ device: 'cdrom', path: run.seedPath, readonly: true }),
    ]);
    await expect(port.defineDomain(run.spec())).rejects.toMatchObject({ code: 'DOMAIN_EXISTS' });
    const listed = await port.listDomains();
    expect(listed.find((domain) => domain.vmId === vmId)?.state).toBe('shutoff');
    await expect(port.getDomain(randomUUID())).rejects.toMatchObject({ code: 'DOMAIN_NOT_FOUND' });
  });

  it('opens no console of a stopped or missing domain', async () => {
    for (const type of ['serial', 'vnc'] as const) {
      await expect(run.port.openConsole(run.vmId, type)).rejects.toMatchObject({ code: 'INVALID_STATE' });
      await expect(run.port.openConsole(randomUUID(), type)).rejects.toMatchObject({ code: 'DOMAIN_NOT_FOUND' });
    }
  });
}

function describeRedefinition(run: ContractRun): void {
  it('redefines a stopped domain: new boot order, same UUID, snapshots kept', async () => {
    const { port, firmwareVmId } = run;
    await port.createVolume({
      pool: run.pool.name,
      name: diskVolumeName(firmwareVmId, run.bootDiskId),
      sizeBytes: 16 * MIB,
    });
    const defined = await port.defineDomain(run.firmwareSpec(['cdrom', 'hd']));
    expect(defined.bootOrder).toEqual(['cdrom', 'hd']);
    await port.createSnapshot(firmwareVmId, { name: 'before-redefine' });

    const redefined = await port.redefineDomain(run.firmwareSpec(['hd'], 'installed'));
    expect(redefined).toMatchObject({
      vmId: firmwareVmId,
      ownerId: run.firmwareOwner,
      uuid: defined.uuid,
      state: 'shutoff',
      bootOrder: ['hd'],
      title: 'installed',
    });
    const info = await port.getDomain(firmwareVmId);
    expect(info).toMatchObject({ uuid: defined.uuid, bootOrder: ['hd'], title: 'installed' });
    // Disks are the same files, media included.
    expect(info.disks.map((disk) => [disk.device, disk.path])).toEqual(
      defined.disks.map((disk) => [disk.device, disk.path]),
    );
    expect((await port.listSnapshots(firmwareVmId)).map((snapshot) => snapshot.name)).toEqual(['before-redefine']);
    expect((await port.listDomains()).filter((domain) => domain.vmId === firmwareVmId)).toHaveLength(1);
    // The kernel-booted domain reports no firmware boot order.
    expect((await port.getDomain(run.vmId)).bootOrder).toBeUndefined();
  });

  it('refuses to redefine a missing domain or to change its owner', async () => {
    const { port } = run;
    await expect(port.redefineDomain({ ...run.firmwareSpec(['hd']), vmId: randomUUID() })).rejects.toMatchObject({
      code: 'DOMAIN_NOT_FOUND',
    });
    await expect(
      port.redefineDomain({ ...run.firmwareSpec(['cdrom']), ownerId: 'someone-else' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(port.redefineDomain({ ...run.firmwareSpec(['cdrom']), vcpus: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(await port.getDomain(run.firmwareVmId)).toMatchObject({ ownerId: run.firmwareOwner, bootOrder: ['hd'] });
  });

  it('redefines a running domain without stopping it; the change applies at the next boot', async () => {
    const { port, firmwareVmId } = run;
    await port.start(firmwareVmId);
    expect((await port.getDomain(firmwareVmId)).state).toBe('running');
    const redefined = await port.redefineDomain(run.firmwareSpec(['cdrom', 'hd']));
    // The result describes the new definition, whatever the running guest uses until then.
    expect(redefined).toMatchObject({ state: 'running', bootOrder: ['cdrom', 'hd'] });
    expect((await port.getDomain(firmwareVmId)).state).toBe('running');
    await port.destroy(firmwareVmId);
    expect(await port.getDomain(firmwareVmId)).toMatchObject({ state: 'shutoff', bootOrder: ['cdrom', 'hd'] });
    expect((await port.listSnapshots(firmwareVmId)).map((snapshot) => snapshot.name)).toEqual(['before-redefine']);
    await port.undefineDomain(firmwareVmId, { removeVolumes: true });
  });
}

function describeOfflineSnapshot(run: ContractRun): void {
  it('reverts an internal snapshot so the disk content really comes back', async () => {
    const { port, files, vmId, diskPath } = run;
    files.fillDisk(diskPath, 0xab);
    const snapshot = await port.createSnapshot(vmId, { name: 'pattern-ab', description: 'before <overwrite> & co' });
    expect(snapshot).toMatchObject({
      name: 'pattern-ab',
      description: 'before <overwrite> & co',
      domainState: 'shutoff',
      current: true,
    });

    files.fillDisk(diskPath, 0xcd);
    expect(files.diskHolds(diskPath, 0xab)).toBe(false);

    await port.revertSnapshot(vmId, 'pattern-ab');
    expect(files.diskHolds(diskPath, 0xab)).toBe(true);
    expect(await run.state()).toBe('shutoff');

    const snapshots = await port.listSnapshots(vmId);
    expect(snapshots.map((s) => s.name)).toEqual(['pattern-ab']);
    await expect(port.revertSnapshot(vmId, 'no-such-snapshot')).rejects.toBeInstanceOf(HypervisorError);
    await expect(port.createSnapshot(vmId, { name: 'bad name; rm' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
}

function describeRunningGuest(run: ContractRun, adapterName: string, withRealGuest: jest.It): void {
  it('starts the guest and the marker appears in the serial log', async () => {
    const { port, vmId } = run;
    const started = Date.now();
    await port.start(vmId);
    expect(await run.state()).toBe('running');
    await waitFor('guest marker', async () => (await run.markers()) >= 1, 60_000);
    // Reported by the suite so boot time regressions are visible in CI logs.
    process.stdout.write(`[${adapterName}] boot to ${GUEST_MARKER}: ${Date.now() - started} ms\n`);

    expect((await port.getSerialConsole(vmId)).logPath).toBe(run.serialLogPath);
    await expect(port.start(vmId)).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });

  it('takes a PNG screenshot and reports statistics of the running guest', async () => {
    const { port, vmId } = run;
    const png = await port.screenshot(vmId);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

    const stats = await port.getStats(vmId);
    expect(stats).toMatchObject({ vmId, state: 'running' });
    expect(stats.cpuTimeNs).toBeGreaterThan(0);
    expect(stats.memory.maxKiB).toBeGreaterThan(0);
    expect(stats.block.map((b) => b.name)).toContain('vda');
    const all = await port.getAllStats();
    expect(all.find((s) => s.vmId === vmId)?.state).toBe('running');
  });

  it('suspends, resumes, resets and reboots with the state checked after each', async () => {
    const { port, vmId } = run;
    await port.suspend(vmId);
    expect(await run.state()).toBe('paused');
    await port.resume(vmId);
    expect(await run.state()).toBe('running');

    const before = await run.markers();
    await port.reset(vmId);
    expect(await run.state()).toBe('running');
    await waitFor('marker after reset', async () => (await run.markers()) > before, 60_000);

    const beforeReboot = await run.markers();
    await port.reboot(vmId);
    await waitFor('marker after reboot', async () => (await run.markers()) > beforeReboot, 60_000);
    expect(await run.state()).toBe('running');
  });

  withRealGuest('relays the serial console both ways through openConsole (the pty of QEMU)', async () => {
    const { port, vmId } = run;
    expect((await port.getSerialConsole(vmId)).ptyPath).toMatch(/^\/dev\/pts\/\d+$/);
    const serial = await port.openConsole(vmId, 'serial');
    let received = '';
    serial.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const word = `limen-echo-${Date.now()}`;
    // The guest's tty echoes what is typed once its init holds the console.
    const typing = setInterval(() => serial.write(`${word}\r`), 300);
    try {
      await waitFor('the tty echo', async () => received.includes(word), 30_000);
    } finally {
      clearInterval(typing);
      serial.destroy();
    }
  });
}

function describeConsoles(run: ContractRun, withRealGuest: jest.It): void {
  withRealGuest('speaks RFB through openConsole (a VNC server on a unix socket, never a TCP port)', async () => {
    const { port, vmId } = run;
    const vnc = await port.getVncEndpoint(vmId);
    expect(vnc?.socketPath).toMatch(/^\/.+\.sock$/);
    const stream = await port.openConsole(vmId, 'vnc');
    try {
      expect((await firstChunk(stream)).toString('latin1')).toMatch(/^RFB 003\.00\d\n$/);
    } finally {
      stream.destroy();
    }
  });
}

function describeLiveChanges(run: ContractRun): void {
  it('takes, lists, reverts and deletes a snapshot of the running guest', async () => {
    const { port, vmId } = run;
    const snapshot = await port.createSnapshot(vmId, { name: 'live-1' });
    expect(snapshot.domainState).toBe('running');
    expect((await port.listSnapshots(vmId)).find((s) => s.name === 'live-1')?.current).toBe(true);
    await port.revertSnapshot(vmId, 'live-1');
    expect(await run.state()).toBe('running');
    await port.deleteSnapshot(vmId, 'live-1');
    expect((await port.listSnapshots(vmId)).map((s) => s.name)).toEqual(['pattern-ab']);
    await expect(port.deleteSnapshot(vmId, 'live-1')).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
  });

  it('inserts and ejects CD-ROM media', async () => {
    const { port, vmId } = run;
    const mediaDrive = async () => (await port.getDomain(vmId)).disks.find((d) => d.device === 'cdrom' && !d.seed);
    await port.insertCdrom(vmId, run.iso);
    expect((await mediaDrive())?.path).toBe(run.iso);
    await port.ejectCdrom(vmId);
    expect((await mediaDrive())?.path).toBeUndefined();
    // The seed drive is a separate drive and stays attached.
    expect((await port.getDomain(vmId)).disks.find((d) => d.seed)?.path).toBe(run.seedPath);
  });

  // After the running snapshot: a snapshot taken with a hot-plugged vCPU cannot be restored
  // into a QEMU started from the config (QEMU: "Unknown savevm section ... cpu_common").
  it('changes memory and vCPUs, live where possible', async () => {
    const { port, vmId } = run;
    expect(await port.setMemory(vmId, 320)).toEqual({ config: true, live: true });
    expect(await port.setMemory(vmId, 512)).toEqual({ config: true, live: false });
    expect((await port.setVcpus(vmId, 2)).config).toBe(true);
  });
}

function describePowerOff(run: ContractRun): void {
  it('shuts the guest down through ACPI', async () => {
    const { port, vmId } = run;
    expect(await port.shutdown(vmId, { timeoutMs: 60_000 })).toEqual({ forced: false });
    expect(await run.state()).toBe('shutoff');
    await expect(port.suspend(vmId)).rejects.toMatchObject({ code: 'INVALID_STATE' });
    // Config changes made while running apply from the next boot.
    const info = await port.getDomain(vmId);
    expect(info.memoryMiB).toBe(512);
    expect(info.vcpus).toBe(2);
  });

  it('destroys a running guest and reports lifecycle events', async () => {
    const { port, vmId, events } = run;
    await port.start(vmId);
    expect(await run.state()).toBe('running');
    await port.destroy(vmId);
    expect(await run.state()).toBe('shutoff');
    const seen = (type: string) => events.some((e) => e.kind === 'lifecycle' && e.vmId === vmId && e.type === type);
    await waitFor('stopped event', async () => seen('stopped'), 5_000);
    expect(seen('started')).toBe(true);
  });

  it('undefines the domain and removes its volumes, seed ISO and serial log through the pool', async () => {
    const { port, files, vmId } = run;
    expect(files.exists(run.serialLogPath)).toBe(true);
    await port.undefineDomain(vmId, { removeVolumes: true, removeSeedIso: true, removeNvram: true });
    await expect(port.getDomain(vmId)).rejects.toMatchObject({ code: 'DOMAIN_NOT_FOUND' });
    expect((await port.listDomains()).some((d) => d.vmId === vmId)).toBe(false);
    expect(files.exists(run.diskPath)).toBe(false);
    expect(files.exists(run.seedPath)).toBe(false);
    expect(files.exists(run.serialLogPath)).toBe(false);
    // Data disks went with it; nothing of the VM is left in the pool.
    expect(files.list(run.pool.path).filter((name) => name.startsWith(vmId))).toEqual([]);
    expect(files.exists(run.iso)).toBe(true); // CD-ROM media is shared and never deleted with a VM
  });
}
