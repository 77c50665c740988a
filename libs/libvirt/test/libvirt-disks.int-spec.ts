import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createVirtualizationPort, DomainSpec, VirtualizationPort } from '../src';
import { LibvirtDisks } from '../src/adapters/libvirt/libvirt-disks';
import { HOTPLUG_PORTS } from '../src/xml/domain-xml-builder';
import { VirshPool } from '../src/transport/virsh-pool';
import { parseDomainXml } from '../src/xml/domain-xml-parser';
import { ensureTestGuest, GUEST_MARKER, makeRunDir, TestGuest, waitFor } from './guest-fixture';

const URI = 'qemu:///system';
const MiB = 1024 * 1024;

function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-c', URI, ...args], { encoding: 'utf8', stdio: 'pipe' });
}

/** Root ports of a live q35 definition that no device sits behind: what hot-plug can still use. */
function freeRootPorts(xml: string): number {
  const ports = [...xml.matchAll(/<controller type='pci' index='(\d+)' model='pcie-root-port'>/g)].map((m) =>
    Number(m[1]),
  );
  const buses = new Set(
    [...xml.matchAll(/<address type='pci' domain='0x0000' bus='(0x[0-9a-f]+)'/g)].map((m) => Number(m[1])),
  );
  return ports.filter((port) => !buses.has(port)).length;
}

function capacity(output: string): number {
  return Number(/^Capacity:\s+(\d+)/m.exec(output)?.[1]);
}

/** Disks plugged into and out of a running tiny guest, as libvirt and QEMU see them. */
describe('libvirt disk hot-plug and growth', () => {
  const run = makeRunDir('libvirt-disks');
  // A transient dir pool over the run folder: vol-resize (growth of a stopped domain's disk) works
  // on volumes of an active pool only. Not `limen-…`, so no LIMEN pool listing ever shows it.
  const poolName = `ldisks-${randomBytes(4).toString('hex')}`;
  const vmId = randomUUID();
  const name = `limen-${vmId}`;
  const bootId = randomUUID();
  const dataId = randomUUID();
  const scsiId = randomUUID();
  let port: VirtualizationPort;
  let virshPool: VirshPool;
  let disks: LibvirtDisks;
  let guest: TestGuest;

  const volume = (file: string, sizeMiB: number): string => {
    virsh('vol-create-as', poolName, file, `${sizeMiB}M`, '--format', 'qcow2');
    return join(run.dir, file);
  };

  const spec = (): DomainSpec => ({
    vmId,
    ownerId: 'owner-disks',
    vcpus: 1,
    memoryMiB: 128,
    virtType: 'qemu',
    disks: [{ id: bootId, path: join(run.dir, 'boot.qcow2'), serial: 'boot-0', bootIndex: 1 }],
    nics: [],
    serialLogPath: join(run.dir, 'serial.log'),
    kernel: { kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, cmdline: guest.cmdline },
  });

  beforeAll(() => {
    guest = ensureTestGuest();
    virsh('pool-create-as', poolName, 'dir', '--target', run.dir);
    port = createVirtualizationPort({ adapter: 'libvirt', uri: URI, virtType: 'qemu' });
    virshPool = new VirshPool({ uri: URI, size: 1 });
    disks = new LibvirtDisks({
      pool: virshPool,
      isActive: async () => (await port.getDomain(vmId)).state === 'running',
      pollIntervalMs: 100,
    });
  });

  afterAll(async () => {
    await port.destroy(vmId).catch(() => undefined);
    await port.undefineDomain(vmId).catch(() => undefined);
    await port.close();
    await virshPool.close();
    try {
      virsh('pool-destroy', poolName);
    } catch {
      // Never created.
    }
    run.cleanup();
  });

  it('hot-plugs a virtio disk with its alias and serial into the running domain and its definition', async () => {
    volume('boot.qcow2', 16);
    await port.defineDomain(spec());
    await port.start(vmId);
    await waitFor('guest marker', async () => (await port.tailSerialLog(vmId)).includes(GUEST_MARKER), 90_000);

    expect(freeRootPorts(virsh('dumpxml', name))).toBe(HOTPLUG_PORTS);

    const path = volume('data.qcow2', 64);
    const data = { id: dataId, path, serial: 'data-1' };
    expect(await disks.attachDisk(vmId, data)).toEqual({ config: true, live: true });
    const live = parseDomainXml(virsh('dumpxml', name)).disks.find((disk) => disk.id === dataId);
    expect(live).toMatchObject({ target: 'vdb', bus: 'virtio', serial: 'data-1', path, device: 'disk' });
    expect(virsh('dumpxml', name)).toContain(`<alias name='ua-disk-${dataId}'/>`);
    expect(parseDomainXml(virsh('dumpxml', '--inactive', name)).disks.map((disk) => disk.id)).toEqual([bootId, dataId]);
    expect((await port.getDomain(vmId)).disks.find((disk) => disk.id === dataId)).toMatchObject({ serial: 'data-1' });
    // Repeating the attach (a retried operation) changes nothing.
    expect(await disks.attachDisk(vmId, data)).toEqual({ config: true, live: true });
    expect(parseDomainXml(virsh('dumpxml', name)).disks.filter((disk) => disk.id === dataId)).toHaveLength(1);
    await expect(disks.attachDisk(vmId, { ...data, id: randomUUID() })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('hot-plugs a SCSI disk on a virtio-scsi controller it adds to a domain that had none', async () => {
    const path = volume('scsi.qcow2', 32);
    expect(await disks.attachDisk(vmId, { id: scsiId, path, bus: 'scsi', serial: 'scsi-1' })).toEqual({
      config: true,
      live: true,
    });
    for (const xml of [virsh('dumpxml', name), virsh('dumpxml', '--inactive', name)]) {
      expect(parseDomainXml(xml).disks.find((disk) => disk.id === scsiId)).toMatchObject({
        target: 'sdc',
        bus: 'scsi',
      });
      expect(xml).toMatch(/<controller type='scsi' index='0' model='virtio-scsi'>/);
    }
  });

  it('grows a disk of the running domain live (QEMU and the image file), and refuses to shrink it', async () => {
    const before = capacity(virsh('domblkinfo', name, '--device', 'vdb'));
    expect(before).toBe(64 * MiB);
    expect(await disks.growDisk(vmId, dataId, 96 * MiB)).toEqual({ config: true, live: true });
    expect(capacity(virsh('domblkinfo', name, '--device', 'vdb'))).toBe(96 * MiB);
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '-U', '--output=json', join(run.dir, 'data.qcow2')], { encoding: 'utf8' }),
    ) as { 'virtual-size': number };
    expect(info['virtual-size']).toBe(96 * MiB);
    // The same size again is a retried grow: nothing to do.
    expect(await disks.growDisk(vmId, dataId, 96 * MiB)).toEqual({ config: true, live: true });
    await expect(disks.growDisk(vmId, dataId, 32 * MiB)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(disks.growDisk(vmId, randomUUID(), 128 * MiB)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(capacity(virsh('domblkinfo', name, '--device', 'vdb'))).toBe(96 * MiB);
  });

  it('unplugs a disk by id from the running domain and its definition, leaving the volume', async () => {
    expect(await disks.detachDisk(vmId, dataId)).toEqual({ config: true, live: true });
    expect(virsh('dumpxml', name)).not.toContain(`ua-disk-${dataId}`);
    expect(virsh('dumpxml', '--inactive', name)).not.toContain(`ua-disk-${dataId}`);
    expect(capacity(virsh('vol-info', '--bytes', join(run.dir, 'data.qcow2')))).toBe(96 * MiB);
    await expect(disks.detachDisk(vmId, dataId)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(disks.detachDisk(randomUUID(), dataId)).rejects.toMatchObject({ code: 'DOMAIN_NOT_FOUND' });
    await expect(disks.detachDisk(vmId, '../x')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('grows a stopped domain disk through its volume, and adds a disk to the definition only', async () => {
    await port.destroy(vmId);
    expect(await disks.growDisk(vmId, scsiId, 48 * MiB)).toEqual({ config: true, live: false });
    expect(capacity(virsh('vol-info', '--bytes', join(run.dir, 'scsi.qcow2')))).toBe(48 * MiB);
    await expect(disks.growDisk(vmId, scsiId, 16 * MiB)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });

    expect(await disks.attachDisk(vmId, { id: dataId, path: join(run.dir, 'data.qcow2') })).toEqual({
      config: true,
      live: false,
    });
    // It comes up with the domain at the next start.
    await port.start(vmId);
    expect(parseDomainXml(virsh('dumpxml', name)).disks.find((disk) => disk.id === dataId)).toMatchObject({
      target: 'vdb',
    });
  });

  it('once the spare root ports are used up, puts a further disk into the definition only', async () => {
    const free = freeRootPorts(virsh('dumpxml', name));
    expect(free).toBeGreaterThan(0);
    const results = [];
    for (let index = 0; index <= free; index++) {
      const id = randomUUID();
      results.push({ id, result: await disks.attachDisk(vmId, { id, path: volume(`extra-${index}.qcow2`, 16) }) });
    }
    expect(results.map(({ result }) => result.live)).toEqual([...Array.from({ length: free }, () => true), false]);
    const last = results[results.length - 1].id;
    expect(virsh('dumpxml', name)).not.toContain(`ua-disk-${last}`);
    expect(virsh('dumpxml', '--inactive', name)).toContain(`ua-disk-${last}`);
  });
});
