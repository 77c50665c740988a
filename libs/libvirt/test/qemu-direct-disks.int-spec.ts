import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createVirtualizationPort, DomainSpec, VirtualizationPort } from '../src';
import { QemuDirectDisks } from '../src/adapters/qemu-direct/disk-hotplug';
import { diskNodeName } from '../src/adapters/qemu-direct/disk-argv';
import { DomainStore } from '../src/adapters/qemu-direct/domain-store';
import { QemuDirectStorage } from '../src/adapters/qemu-direct/qemu-direct-storage';
import { QmpClient } from '../src/qmp/qmp-client';
import { QemuImg } from '../src/volumes/qemu-img';
import { HOTPLUG_PORTS } from '../src/xml/domain-xml-builder';
import { ensureTestGuest, GUEST_MARKER, makeRunDir, TestGuest, waitFor } from './guest-fixture';

const MiB = 1024 * 1024;

/**
 * Disks plugged into and out of a running tiny guest under qemu-direct, as QEMU reports them. The
 * adapter starts the domain and lets go of it (QEMU is daemonized); the test holds QMP itself.
 */
describe('qemu-direct disk hot-plug and growth', () => {
  const run = makeRunDir('qd-disks');
  const stateDir = join(run.dir, 'state');
  const poolPath = join(run.dir, 'pool');
  const vmId = randomUUID();
  const bootId = randomUUID();
  const dataId = randomUUID();
  const scsiId = randomUUID();
  const store = new DomainStore(stateDir);
  const storage = new QemuDirectStorage({ stateDir });
  const ports: VirtualizationPort[] = [];
  let guest: TestGuest;
  let qmp: QmpClient | undefined;
  let disks: QemuDirectDisks;

  const open = (): VirtualizationPort => {
    const port = createVirtualizationPort({ adapter: 'qemu-direct', stateDir, virtType: 'qemu' });
    ports.push(port);
    return port;
  };
  const volume = async (name: string, sizeMiB: number): Promise<string> =>
    (await storage.createVolume({ pool: 'limen-vms', name, sizeBytes: sizeMiB * MiB })).path;
  const peripherals = async (): Promise<string[]> =>
    (await qmp!.execute<Array<{ name: string; type: string }>>('qom-list', { path: '/machine/peripheral' }))
      .filter((child) => child.type.startsWith('child<'))
      .map((child) => child.name);
  const qomGet = <T>(id: string, property: string): Promise<T> =>
    qmp!.execute<T>('qom-get', { path: `/machine/peripheral/${id}`, property });
  const nodeSize = async (diskId: string): Promise<number | undefined> =>
    (
      await qmp!.execute<Array<{ 'node-name': string; image: { 'virtual-size': number } }>>('query-named-block-nodes', {
        flat: true,
      })
    ).find((node) => node['node-name'] === diskNodeName(diskId))?.image['virtual-size'];

  afterAll(async () => {
    // QEMU takes one QMP client at a time: every earlier one lets go before the last adapter stops it.
    qmp?.close();
    for (const p of ports) await p.close();
    const port = open();
    await port.destroy(vmId).catch(() => undefined);
    await port.undefineDomain(vmId).catch(() => undefined);
    await port.close();
    run.cleanup();
  });

  it('starts a domain whose disks have ids, on its disk ports, from volumes of a pool folder', async () => {
    guest = ensureTestGuest();
    await storage.ensureStoragePool({ name: 'limen-vms', type: 'dir', path: poolPath });
    const spec: DomainSpec = {
      vmId,
      ownerId: 'owner-disks',
      vcpus: 1,
      memoryMiB: 128,
      virtType: 'qemu',
      disks: [{ id: bootId, path: await volume('boot.qcow2', 16), serial: 'boot-0', bootIndex: 1 }],
      nics: [],
      serialLogPath: join(run.dir, 'serial.log'),
      kernel: { kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, cmdline: guest.cmdline },
    };
    const port = open();
    await port.defineDomain(spec);
    await port.start(vmId);
    await waitFor('guest marker', async () => (await port.tailSerialLog(vmId)).includes(GUEST_MARKER), 90_000);
    // The adapter lets go of QEMU (it keeps running) and QMP is the test's.
    await port.close();
    qmp = await QmpClient.connect(store.qmpSocket(vmId));
    const connected = qmp;
    disks = new QemuDirectDisks({
      store,
      requireDomain: async (id) => (await store.read(id))!,
      monitor: async () => (connected.isClosed ? undefined : { qmp: connected, events$: connected.events$ }),
      unplugTimeoutMs: 30_000,
      qemuImg: new QemuImg(),
    });
    expect(await peripherals()).toContain(`ua-disk-${bootId}`);
    expect(await qomGet(`ua-disk-${bootId}`, 'serial')).toBe('boot-0');
    expect(await qomGet(`ua-disk-${bootId}`, 'parent_bus')).toMatch(/limen-diskport0/);
  });

  it('hot-plugs a virtio disk with its serial on a free disk port, and keeps it in the definition', async () => {
    const path = await volume('data.qcow2', 64);
    const data = { id: dataId, path, serial: 'data-1' };
    expect(await disks.attachDisk(vmId, data)).toEqual({ config: true, live: true });
    expect(await peripherals()).toContain(`ua-disk-${dataId}`);
    expect(await qomGet(`ua-disk-${dataId}`, 'serial')).toBe('data-1');
    expect(await qomGet(`ua-disk-${dataId}`, 'parent_bus')).toMatch(/limen-diskport1/);
    expect((await store.read(vmId))!.spec.disks.map((disk) => disk.id)).toEqual([bootId, dataId]);
    // Repeating it (a retried operation) changes nothing.
    expect(await disks.attachDisk(vmId, data)).toEqual({ config: true, live: true });
    expect((await store.read(vmId))!.spec.disks).toHaveLength(2);
    await expect(disks.attachDisk(vmId, { ...data, id: randomUUID() })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('hot-plugs a SCSI disk, adding the virtio-scsi controller the domain started without', async () => {
    expect(await peripherals()).not.toContain('scsi0');
    const path = await volume('scsi.qcow2', 32);
    expect(await disks.attachDisk(vmId, { id: scsiId, path, bus: 'scsi', serial: 'scsi-1' })).toEqual({
      config: true,
      live: true,
    });
    expect(await qomGet(`ua-disk-${scsiId}`, 'type')).toBe('scsi-hd');
    expect(await qomGet(`ua-disk-${scsiId}`, 'scsi-id')).toBe(2);
    expect(await peripherals()).toContain('scsi0');
  });

  it('grows a disk live with block_resize (QEMU and the image file), and refuses to shrink it', async () => {
    expect(await nodeSize(dataId)).toBe(64 * MiB);
    expect(await disks.growDisk(vmId, dataId, 96 * MiB)).toEqual({ config: true, live: true });
    expect(await nodeSize(dataId)).toBe(96 * MiB);
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '-U', '--output=json', join(poolPath, 'data.qcow2')], { encoding: 'utf8' }),
    ) as { 'virtual-size': number };
    expect(info['virtual-size']).toBe(96 * MiB);
    expect(await disks.growDisk(vmId, dataId, 96 * MiB)).toEqual({ config: true, live: true });
    await expect(disks.growDisk(vmId, dataId, 32 * MiB)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(disks.growDisk(vmId, randomUUID(), 128 * MiB)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('unplugs a disk by id (device and block node) and drops it from the definition, leaving the volume', async () => {
    expect(await disks.detachDisk(vmId, dataId)).toEqual({ config: true, live: true });
    expect(await peripherals()).not.toContain(`ua-disk-${dataId}`);
    expect(await nodeSize(dataId)).toBeUndefined();
    expect((await store.read(vmId))!.spec.disks.map((disk) => disk.id)).toEqual([bootId, scsiId]);
    expect((await storage.getVolume({ pool: 'limen-vms', name: 'data.qcow2' })).virtualSizeBytes).toBe(96 * MiB);
    await expect(disks.detachDisk(vmId, dataId)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(disks.detachDisk(vmId, '../x')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('once the spare disk ports are used up, puts a further disk into the definition only', async () => {
    const results: Array<{ id: string; live: boolean }> = [];
    for (let index = 0; index <= HOTPLUG_PORTS; index++) {
      const id = randomUUID();
      const { live } = await disks.attachDisk(vmId, { id, path: await volume(`extra-${index}.qcow2`, 16) });
      results.push({ id, live });
    }
    const firstConfigOnly = results.findIndex((result) => !result.live);
    expect(firstConfigOnly).toBeGreaterThan(0);
    expect(results.slice(firstConfigOnly).every((result) => !result.live)).toBe(true);
    const last = results[results.length - 1].id;
    expect(await peripherals()).not.toContain(`ua-disk-${last}`);
    expect((await store.read(vmId))!.spec.disks.map((disk) => disk.id)).toContain(last);
    // Taken out again, the plugged ones and the ones only the definition had alike.
    for (const { id } of results) expect(await disks.detachDisk(vmId, id)).toEqual({ config: true, live: true });
    expect((await store.read(vmId))!.spec.disks.map((disk) => disk.id)).toEqual([bootId, scsiId]);
  });

  it('grows a stopped domain disk through its image, and starts with every disk of the definition', async () => {
    await qmp!.execute('quit').catch(() => undefined);
    await waitFor('QMP closed', async () => qmp!.isClosed, 10_000);
    expect(await disks.growDisk(vmId, scsiId, 48 * MiB)).toEqual({ config: true, live: false });
    expect((await storage.getVolume({ pool: 'limen-vms', name: 'scsi.qcow2' })).virtualSizeBytes).toBe(48 * MiB);
    await expect(disks.growDisk(vmId, scsiId, 16 * MiB)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });

    const port = open();
    await port.start(vmId);
    const info = await port.getDomain(vmId);
    expect(info.disks.map(({ id, bus, serial, target }) => ({ id, bus, serial, target }))).toEqual([
      { id: bootId, bus: 'virtio', serial: 'boot-0', target: 'vda' },
      { id: scsiId, bus: 'scsi', serial: 'scsi-1', target: 'sdc' },
    ]);
    // QEMU counts its I/O under the targets libvirt would use.
    expect((await port.getStats(vmId)).block.map((entry) => entry.name).sort()).toEqual(['sdc', 'vda']);
  });
});
