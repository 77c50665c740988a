import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Subscription } from 'rxjs';
import { BootDevice, DomainEvent, DomainSpec, HypervisorError, VirtualizationPort } from '../src';
import {
  ensureTestGuest,
  GUEST_MARKER,
  isoinfo,
  makeIso,
  makeRunDir,
  qemuIo,
  TestGuest,
  waitFor,
} from './guest-fixture';

export interface ContractContext {
  port: VirtualizationPort;
  /** Per-run folder QEMU can traverse. */
  runDir: string;
}

const HOSTILE_TITLE = `<title>&amp; "quoted" 'single' ]]> </domain><name>evil</name> ✓`;
const HOSTILE_DESCRIPTION = `line1 <script>alert(1)</script>\nline2 & ; $(rm -rf /) \`id\` \\ --destroy`;
/** Seed documents carry user text (hostname, SSH keys, user-data); it must reach the ISO unchanged. */
const HOSTILE_USER_DATA = [
  '#cloud-config',
  `hostname: "it's \\"quoted\\"" ; $(touch /tmp/limen-pwned) \`id\` && echo 'x'`,
  'ssh_authorized_keys: ["ssh-ed25519 AAAA== user@host -output /etc/passwd"]',
  'runcmd: [echo </xml></domain> <![CDATA[ ]]> &amp;]',
  'unicode: ✓ 한국어 émoji 🚀 \u202e',
  'crlf: a\r\nb',
  '',
].join('\n');

/** The first line a VNC server sends: its RFB protocol version. */
function rfbGreeting(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path: socketPath });
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no RFB greeting on ${socketPath}`)));
    socket.once('error', reject);
    socket.once('data', (chunk: Buffer) => {
      socket.destroy();
      resolve(chunk.toString('latin1'));
    });
  });
}

function countMarkers(log: string): number {
  return log.split(GUEST_MARKER).length - 1;
}

/**
 * The VirtualizationPort contract, run unchanged against every adapter on the real hypervisor
 * with the tiny test guest (TCG). Steps run in order and share one VM.
 */
export function describePortContract(
  adapterName: string,
  makePort: (runDir: string) => Promise<VirtualizationPort> | VirtualizationPort,
): void {
  describe(`VirtualizationPort contract: ${adapterName}`, () => {
    const vmId = randomUUID();
    let guest: TestGuest;
    let run: { dir: string; cleanup: () => void };
    let port: VirtualizationPort;
    let diskPath: string;
    let iso: string;
    let seedPath: string;
    const events: DomainEvent[] = [];
    let subscription: Subscription;

    const spec = (): DomainSpec => ({
      vmId,
      ownerId: `owner-${randomUUID()}`,
      title: HOSTILE_TITLE,
      description: HOSTILE_DESCRIPTION,
      vcpus: 1,
      maxVcpus: 2,
      memoryMiB: 256,
      maxMemoryMiB: 384,
      virtType: 'qemu',
      machine: 'q35',
      disks: [{ path: diskPath }],
      cdrom: {},
      seedIsoPath: seedPath,
      network: { mode: 'user' },
      vnc: { enabled: true, password: 'secret1' },
      serialLogPath: join(run.dir, 'serial.log'),
      kernel: { kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, cmdline: guest.cmdline },
    });

    const state = async (): Promise<string> => (await port.getDomain(vmId)).state;

    // A second domain booting through the firmware (the main one boots a kernel directly, where
    // the boot order does not apply), like a VM installed from an ISO.
    const firmwareVmId = randomUUID();
    const firmwareOwner = `owner-${randomUUID()}`;
    const firmwareSpec = (bootOrder: BootDevice[], title = 'installer'): DomainSpec => ({
      vmId: firmwareVmId,
      ownerId: firmwareOwner,
      title,
      vcpus: 1,
      memoryMiB: 128,
      virtType: 'qemu',
      machine: 'q35',
      disks: [{ path: join(run.dir, 'firmware-disk.qcow2') }],
      cdrom: { isoPath: iso },
      network: { mode: 'none' },
      serialLogPath: join(run.dir, 'firmware-serial.log'),
      bootOrder,
    });

    beforeAll(async () => {
      guest = ensureTestGuest();
      run = makeRunDir(adapterName);
      diskPath = join(run.dir, 'disk.qcow2');
      iso = makeIso(run.dir, 'media');
      seedPath = join(run.dir, 'seed.iso');
      port = await makePort(run.dir);
      subscription = port.events().subscribe((event) => events.push(event));
    });

    afterAll(async () => {
      // Clean up even after a failure in the middle of the sequence.
      for (const id of [vmId, firmwareVmId]) {
        await port.destroy(id).catch(() => undefined);
        await port.undefineDomain(id, { removeVolumes: true }).catch(() => undefined);
      }
      subscription?.unsubscribe();
      await port.close();
      run.cleanup();
    });

    it('reports host capabilities', async () => {
      const caps = await port.getHostCapabilities();
      expect(caps.cpus).toBeGreaterThan(0);
      expect(caps.memoryMiB).toBeGreaterThan(0);
      expect(caps.virtTypes).toContain('qemu');
      expect(caps.qemuVersion).toMatch(/^\d+\.\d+/);
      expect(caps.machines.some((machine) => machine.includes('q35'))).toBe(true);
    });

    it('creates, inspects, resizes and layers qcow2 volumes', async () => {
      const volume = await port.createVolume({ path: diskPath, sizeBytes: 64 * 1024 * 1024 });
      expect(volume).toMatchObject({ format: 'qcow2', virtualSizeBytes: 64 * 1024 * 1024 });
      await expect(port.createVolume({ path: diskPath, sizeBytes: 1024 * 1024 })).rejects.toMatchObject({
        code: 'VOLUME_EXISTS',
      });

      const overlayPath = join(run.dir, 'overlay.qcow2');
      const overlay = await port.createVolume({ path: overlayPath, backingPath: diskPath, backingFormat: 'qcow2' });
      expect(overlay.backingPath).toBe(diskPath);
      expect(overlay.virtualSizeBytes).toBe(64 * 1024 * 1024);
      const grown = await port.resizeVolume(overlayPath, 128 * 1024 * 1024);
      expect(grown.virtualSizeBytes).toBe(128 * 1024 * 1024);
      await port.deleteVolume(overlayPath);
      expect(existsSync(overlayPath)).toBe(false);
      await port.deleteVolume(overlayPath); // idempotent
    });

    it('writes a cloud-init NoCloud seed ISO whose documents come back byte for byte', async () => {
      const metaData = `instance-id: ${vmId}\nlocal-hostname: "a'b$(x)"\n`;
      const networkConfig = 'version: 2\nethernets: {}\n';
      // A second write replaces the first one (the api rewrites a VM's seed when its config changes).
      await port.createSeedIso({ path: seedPath, metaData: 'instance-id: old\n', userData: 'old' });
      const volume = await port.createSeedIso({ path: seedPath, metaData, userData: HOSTILE_USER_DATA, networkConfig });
      expect(volume).toMatchObject({ path: seedPath, format: 'raw' });
      expect(volume.virtualSizeBytes).toBe(statSync(seedPath).size);
      expect(statSync(seedPath).mode & 0o777).toBe(0o600); // libvirt hands it to QEMU's user at start

      expect(isoinfo(seedPath, ['-d']).toString('utf8')).toMatch(/^Volume id: cidata$/m);
      for (const extension of ['-J', '-R']) {
        expect(isoinfo(seedPath, [extension, '-x', '/user-data']).equals(Buffer.from(HOSTILE_USER_DATA, 'utf8'))).toBe(
          true,
        );
        expect(isoinfo(seedPath, [extension, '-x', '/meta-data']).toString('utf8')).toBe(metaData);
        expect(isoinfo(seedPath, [extension, '-x', '/network-config']).toString('utf8')).toBe(networkConfig);
      }
      expect(readdirSync(run.dir).filter((name) => name.includes('seed'))).toEqual(['seed.iso']);

      await expect(port.createSeedIso({ path: 'seed.iso', metaData, userData: '' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(
        port.createSeedIso({ path: join(run.dir, 'seed.img'), metaData, userData: '' }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('defines a domain named from the VM id, with metadata and escaped user strings', async () => {
      const info = await port.defineDomain(spec());
      expect(info.name).toBe(`limen-${vmId}`);
      expect(info.vmId).toBe(vmId);
      expect(info.ownerId).toMatch(/^owner-/);
      expect(info.title).toBe(HOSTILE_TITLE);
      expect(info.description).toBe(HOSTILE_DESCRIPTION);
      expect(info.state).toBe('shutoff');
      expect(info.mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
      expect(info.disks.find((disk) => disk.device === 'disk')?.path).toBe(diskPath);
      expect(info.disks.filter((disk) => disk.seed)).toEqual([
        expect.objectContaining({ device: 'cdrom', path: seedPath, readonly: true }),
      ]);
      await expect(port.defineDomain(spec())).rejects.toMatchObject({ code: 'DOMAIN_EXISTS' });
      const listed = await port.listDomains();
      expect(listed.find((domain) => domain.vmId === vmId)?.state).toBe('shutoff');
      await expect(port.getDomain(randomUUID())).rejects.toMatchObject({ code: 'DOMAIN_NOT_FOUND' });
    });

    it('redefines a stopped domain: new boot order, same UUID, snapshots kept', async () => {
      await port.createVolume({ path: join(run.dir, 'firmware-disk.qcow2'), sizeBytes: 16 * 1024 * 1024 });
      const defined = await port.defineDomain(firmwareSpec(['cdrom', 'hd']));
      expect(defined.bootOrder).toEqual(['cdrom', 'hd']);
      await port.createSnapshot(firmwareVmId, { name: 'before-redefine' });

      const redefined = await port.redefineDomain(firmwareSpec(['hd'], 'installed'));
      expect(redefined).toMatchObject({
        vmId: firmwareVmId,
        ownerId: firmwareOwner,
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
      expect((await port.getDomain(vmId)).bootOrder).toBeUndefined();
    });

    it('refuses to redefine a missing domain or to change its owner', async () => {
      await expect(port.redefineDomain({ ...firmwareSpec(['hd']), vmId: randomUUID() })).rejects.toMatchObject({
        code: 'DOMAIN_NOT_FOUND',
      });
      await expect(port.redefineDomain({ ...firmwareSpec(['cdrom']), ownerId: 'someone-else' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(port.redefineDomain({ ...firmwareSpec(['cdrom']), vcpus: 0 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      expect(await port.getDomain(firmwareVmId)).toMatchObject({ ownerId: firmwareOwner, bootOrder: ['hd'] });
    });

    it('redefines a running domain without stopping it; the change applies at the next boot', async () => {
      await port.start(firmwareVmId);
      expect((await port.getDomain(firmwareVmId)).state).toBe('running');
      const redefined = await port.redefineDomain(firmwareSpec(['cdrom', 'hd']));
      // The result describes the new definition, whatever the running guest uses until then.
      expect(redefined).toMatchObject({ state: 'running', bootOrder: ['cdrom', 'hd'] });
      expect((await port.getDomain(firmwareVmId)).state).toBe('running');
      await port.destroy(firmwareVmId);
      expect(await port.getDomain(firmwareVmId)).toMatchObject({ state: 'shutoff', bootOrder: ['cdrom', 'hd'] });
      expect((await port.listSnapshots(firmwareVmId)).map((snapshot) => snapshot.name)).toEqual(['before-redefine']);
      await port.undefineDomain(firmwareVmId, { removeVolumes: true });
    });

    it('reverts an internal snapshot so the disk content really comes back', async () => {
      expect(qemuIo(diskPath, 'write -P 0xAB 0 64k').ok).toBe(true);
      const snapshot = await port.createSnapshot(vmId, { name: 'pattern-ab', description: 'before <overwrite> & co' });
      expect(snapshot).toMatchObject({
        name: 'pattern-ab',
        description: 'before <overwrite> & co',
        domainState: 'shutoff',
        current: true,
      });

      expect(qemuIo(diskPath, 'write -P 0xCD 0 64k').ok).toBe(true);
      expect(qemuIo(diskPath, 'read -P 0xAB 0 64k').ok).toBe(false);

      await port.revertSnapshot(vmId, 'pattern-ab');
      expect(qemuIo(diskPath, 'read -P 0xAB 0 64k').ok).toBe(true);
      expect(await state()).toBe('shutoff');

      const snapshots = await port.listSnapshots(vmId);
      expect(snapshots.map((s) => s.name)).toEqual(['pattern-ab']);
      await expect(port.revertSnapshot(vmId, 'no-such-snapshot')).rejects.toBeInstanceOf(HypervisorError);
      await expect(port.createSnapshot(vmId, { name: 'bad name; rm' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    });

    it('starts the guest and the marker appears in the serial log', async () => {
      const started = Date.now();
      await port.start(vmId);
      expect(await state()).toBe('running');
      await waitFor('guest marker', async () => countMarkers(await port.tailSerialLog(vmId)) >= 1, 60_000);
      // Reported by the suite so boot time regressions are visible in CI logs.
      process.stdout.write(`[${adapterName}] boot to ${GUEST_MARKER}: ${Date.now() - started} ms\n`);

      const serial = await port.getSerialConsole(vmId);
      expect(serial.logPath).toBe(join(run.dir, 'serial.log'));
      expect(serial.ptyPath).toMatch(/^\/dev\/pts\/\d+$/);
      await expect(port.start(vmId)).rejects.toMatchObject({ code: 'INVALID_STATE' });
    });

    it('exposes VNC, a PNG screenshot and statistics of the running guest', async () => {
      // VNC is a unix socket, never a TCP port any local user or guest could reach.
      const vnc = await port.getVncEndpoint(vmId);
      expect(vnc?.socketPath).toMatch(/^\/.+\.sock$/);
      expect(await rfbGreeting(vnc!.socketPath)).toMatch(/^RFB 003\.00\d\n$/);

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
      await port.suspend(vmId);
      expect(await state()).toBe('paused');
      await port.resume(vmId);
      expect(await state()).toBe('running');

      const before = countMarkers(await port.tailSerialLog(vmId));
      await port.reset(vmId);
      expect(await state()).toBe('running');
      await waitFor('marker after reset', async () => countMarkers(await port.tailSerialLog(vmId)) > before, 60_000);

      const beforeReboot = countMarkers(await port.tailSerialLog(vmId));
      await port.reboot(vmId);
      await waitFor(
        'marker after reboot',
        async () => countMarkers(await port.tailSerialLog(vmId)) > beforeReboot,
        60_000,
      );
      expect(await state()).toBe('running');
    });

    it('takes, lists, reverts and deletes a snapshot of the running guest', async () => {
      const snapshot = await port.createSnapshot(vmId, { name: 'live-1' });
      expect(snapshot.domainState).toBe('running');
      expect((await port.listSnapshots(vmId)).find((s) => s.name === 'live-1')?.current).toBe(true);
      await port.revertSnapshot(vmId, 'live-1');
      expect(await state()).toBe('running');
      await port.deleteSnapshot(vmId, 'live-1');
      expect((await port.listSnapshots(vmId)).map((s) => s.name)).toEqual(['pattern-ab']);
      await expect(port.deleteSnapshot(vmId, 'live-1')).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
    });

    it('inserts and ejects CD-ROM media', async () => {
      const mediaDrive = async () => (await port.getDomain(vmId)).disks.find((d) => d.device === 'cdrom' && !d.seed);
      await port.insertCdrom(vmId, iso);
      expect((await mediaDrive())?.path).toBe(iso);
      await port.ejectCdrom(vmId);
      expect((await mediaDrive())?.path).toBeUndefined();
      // The seed drive is a separate drive and stays attached.
      expect((await port.getDomain(vmId)).disks.find((d) => d.seed)?.path).toBe(seedPath);
    });

    // After the running snapshot: a snapshot taken with a hot-plugged vCPU cannot be restored
    // into a QEMU started from the config (QEMU: "Unknown savevm section ... cpu_common").
    it('changes memory and vCPUs, live where possible', async () => {
      const memory = await port.setMemory(vmId, 320);
      expect(memory).toEqual({ config: true, live: true });
      const beyondMax = await port.setMemory(vmId, 512);
      expect(beyondMax).toEqual({ config: true, live: false });
      const vcpus = await port.setVcpus(vmId, 2);
      expect(vcpus.config).toBe(true);
    });

    it('shuts the guest down through ACPI', async () => {
      const result = await port.shutdown(vmId, { timeoutMs: 60_000 });
      expect(result).toEqual({ forced: false });
      expect(await state()).toBe('shutoff');
      await expect(port.suspend(vmId)).rejects.toMatchObject({ code: 'INVALID_STATE' });
      // Config changes made while running apply from the next boot.
      const info = await port.getDomain(vmId);
      expect(info.memoryMiB).toBe(512);
      expect(info.vcpus).toBe(2);
    });

    it('destroys a running guest and reports lifecycle events', async () => {
      await port.start(vmId);
      expect(await state()).toBe('running');
      await port.destroy(vmId);
      expect(await state()).toBe('shutoff');
      await waitFor(
        'stopped event',
        async () => events.some((e) => e.kind === 'lifecycle' && e.vmId === vmId && e.type === 'stopped'),
        5_000,
      );
      expect(events.some((e) => e.kind === 'lifecycle' && e.vmId === vmId && e.type === 'started')).toBe(true);
    });

    it('undefines the domain and removes its volumes and seed ISO', async () => {
      await port.undefineDomain(vmId, { removeVolumes: true, removeSeedIso: true, removeNvram: true });
      await expect(port.getDomain(vmId)).rejects.toMatchObject({ code: 'DOMAIN_NOT_FOUND' });
      expect((await port.listDomains()).some((d) => d.vmId === vmId)).toBe(false);
      expect(existsSync(diskPath)).toBe(false);
      expect(existsSync(seedPath)).toBe(false);
      expect(existsSync(iso)).toBe(true); // CD-ROM media is shared and never deleted with a VM
    });
  });
}
