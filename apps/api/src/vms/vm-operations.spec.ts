import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { diskVolumeName, HypervisorError, imageVolumeName, seedVolumeName, serialLogName } from '@limen/libvirt';
import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { AppConfig } from '../config/app-config';
import { FakeVmDiskRepository } from '../disks/testing/fake-vm-disk-repository';
import { baseVolumeName, newVmDisk } from '../disks/vm-disk-fields';
import { VmDisk } from '../disks/vm-disk.entity';
import { EventsService, NewEvent } from '../events/events.service';
import { HostStorage } from '../hosts/host-storage';
import { FakeHostPorts, FakeHostRepository, hostRow } from '../hosts/testing/fake-hosts';
import { LeaderJobs } from '../database/leader-jobs';
import { HostImageCache } from '../images/host-image-cache';
import { FakeHostImageRepository } from '../images/testing/fake-host-images';
import { Image } from '../images/image.entity';
import { ImageRepository } from '../images/image.repository';
import { ImagesService } from '../images/images.service';
import { FakeNetworkRepository, FakeVmNicRepository } from '../networks/testing/fake-network-repositories';
import { VmNetworking } from '../networks/vm-networking';
import { FakePortForwardRepository } from '../networks/testing/fake-port-forward-repository';
import { VmNic } from '../networks/vm-nic.entity';
import { Tx } from '../database/transaction';
import { USER_NETWORK_ID } from '../database/migrations/1764300000000-networks';
import { OperationKind, OperationParams, VmActionParams } from '../operations/operation-kinds';
import { Operation } from '../operations/operation.entity';
import { OperationHandler, OperationRunner, operationErrorFrom } from '../operations/operation-runner';
import { FakeVmRepository, vmRow } from './testing/fake-vm-repository';
import { Vm } from './vm.entity';
import { VmCloneDisks } from './vm-clone-disks';
import { VmDefinitions } from './vm-definitions';
import { VmDiskSources } from './vm-disk-sources';
import { VmOperations } from './vm-operations';
import { VmStateWriter } from './vm-state-writer';

const VM_DIR = '/var/lib/limen/vms';
const POOLS = { vmPool: 'limen-vms', imagePool: 'limen-images' };
const GIB = 1024 ** 3;
const BOOT_OUTPUT = 'guest booted\n';
const ACTION: VmActionParams = { timeoutSeconds: 60, force: false };

/**
 * A qcow2 file of 2 GiB virtual size on the api's machine, with the header qemu-img (and the fake
 * port's upload) reads: what a remote host gets a copy of.
 */
function localQcow2(): { path: string; sha256: string; sizeBytes: number } {
  const header = Buffer.alloc(104);
  header.writeUInt32BE(0x514649fb, 0);
  header.writeUInt32BE(3, 4);
  header.writeUInt32BE(16, 20);
  header.writeBigUInt64BE(BigInt(2 * 1024 ** 3), 24);
  header.writeUInt32BE(104, 100);
  const path = join(mkdtempSync(join(tmpdir(), 'limen-vm-ops-')), 'remote.qcow2');
  writeFileSync(path, header);
  return { path, sha256: createHash('sha256').update(header).digest('hex'), sizeBytes: header.length };
}

const IMAGES: Image[] = [
  { id: 'disk', kind: 'disk', path: '/images/cloud.qcow2', format: 'qcow2' },
  { id: 'iso', kind: 'iso', path: '/images/install.iso', format: null },
  { id: 'rescue', kind: 'iso', path: '/images/rescue.iso', format: null },
  { id: 'local-file', kind: 'disk', format: 'qcow2', available: true, ...localQcow2() },
].map((fields) => Object.assign(new Image(), fields));

/** A host's hypervisor, holding the image files (a 3 GiB disk image and two ISOs). */
function hypervisor(): FakeVirtualizationPort {
  const port = new FakeVirtualizationPort({ bootOutput: BOOT_OUTPUT });
  port.files.put('/images/cloud.qcow2', { format: 'qcow2', sizeBytes: 3 * GIB });
  port.files.put('/images/install.iso', { sizeBytes: 300 * 1024 ** 2 });
  port.files.put('/images/rescue.iso', { sizeBytes: 100 * 1024 ** 2 });
  return port;
}

/** The images table, as ImagesService.get reads it. */
function imagesService(): ImagesService {
  const repository = { find: async (id: string) => IMAGES.find((image) => image.id === id) ?? null };
  const unused = {} as never;
  return new ImagesService(unused, repository as unknown as ImageRepository, unused, unused, unused, unused);
}

/** The boot disk row VmsService.create writes with a VM. */
function bootDisk(vm: Vm): VmDisk {
  return newVmDisk({ vmId: vm.id, position: 0, sizeGiB: vm.diskGiB, bootIndex: 1 }, (id) => diskVolumeName(vm.id, id));
}

/** Where the VM's files are: flat in the host's VM pool over VM_DIR. */
function filesOf(w: World, vmId: string) {
  const [disk] = [...w.disks.rows.values()].filter((row) => row.vmId === vmId);
  return {
    disk: `${VM_DIR}/${disk.volume}`,
    seedIso: `${VM_DIR}/${seedVolumeName(vmId)}`,
    serialLog: `${VM_DIR}/${serialLogName(vmId)}`,
  };
}

function world(...vms: Vm[]) {
  const rows = new FakeVmRepository(...vms);
  const disks = new FakeVmDiskRepository(...vms.map(bootDisk));
  const published: NewEvent[] = [];
  const events = { publish: async (event: NewEvent) => void published.push(event) } as unknown as EventsService;
  const far = hostRow('far', { libvirtUri: 'qemu+tcp://192.0.2.10/system' });
  const hostPorts = new FakeHostPorts(new FakeHostRepository(hostRow('one'), hostRow('two'), far), hypervisor);
  const handlers = new Map<string, OperationHandler>();
  const runner = { register: (kind: string, handler: OperationHandler) => handlers.set(kind, handler) };
  const stateWriter = new VmStateWriter(rows.asRepository, events);
  const config = {
    hostName: 'one',
    hypervisor: { ...POOLS, vmDir: VM_DIR, imageDir: '/images', storageRoots: ['/var/lib/limen'], vmNetwork: 'user' },
  } as AppConfig;
  const networks = new FakeNetworkRepository();
  const nics = new FakeVmNicRepository();
  const storage = new HostStorage(config, hostPorts.asPorts);
  const hostImages = new FakeHostImageRepository();
  const imageCopies = new HostImageCache(
    config,
    hostImages.asRepository,
    { recordSha256: async () => undefined } as unknown as ImageRepository,
    rows.asRepository,
    hostPorts.asPorts,
    storage,
    {} as LeaderJobs,
  );
  const diskSources = new VmDiskSources();
  const images = imagesService();
  const networking = new VmNetworking(
    config,
    networks.asRepository,
    nics.asRepository,
    new FakePortForwardRepository().asRepository,
  );
  new VmOperations(
    config,
    hostPorts.asPorts,
    runner as unknown as OperationRunner,
    rows.asRepository,
    stateWriter,
    images,
    networking,
    storage,
    disks.asRepository,
    imageCopies,
    diskSources,
    new VmDefinitions(config, hostPorts.asPorts, images, networking, storage, disks.asRepository, imageCopies),
  ).onModuleInit();
  /** Executes an operation of `kind` on `vmId` as the runner would, by its kind's handler. */
  const run = <K extends OperationKind>(kind: K, vmId: string, params: OperationParams[K]) =>
    handlers.get(kind)!(Object.assign(new Operation<K>(), { id: `op-${kind}`, kind, ownerId: 'alice', vmId, params }));
  return {
    run,
    rows,
    rowsRepository: rows.asRepository,
    disks,
    diskSources,
    published,
    port: hostPorts.forHost('id-one'),
    hostPorts,
    networks,
    nics,
    hostImages,
  };
}

type World = ReturnType<typeof world>;

/** A NIC on the built-in user network. */
function nicRow(vmId: string, mac: string, fields: Partial<VmNic> = {}): VmNic {
  return Object.assign(new VmNic(), { vmId, networkId: USER_NETWORK_ID, mac, model: 'virtio', position: 0, ...fields });
}

/** A VM as VmsService.create leaves it for its vm.create operation. */
function newVm(fields: Partial<Vm> = {}): Vm {
  return vmRow({
    id: randomUUID(),
    hostId: 'id-one',
    state: 'provisioning',
    imageId: 'disk',
    diskGiB: 5,
    vcpus: 2,
    ...fields,
  });
}

/** A VM that vm.create has made (running or stopped), with the events so far forgotten. */
async function madeVm(w: World, fields: Partial<Vm> = {}, start = true): Promise<Vm> {
  const vm = newVm(fields);
  w.rows.rows.set(vm.id, vm);
  await w.disks.add({} as Tx, bootDisk(vm));
  await w.run('vm.create', vm.id, { start, cloudInit: null });
  w.published.length = 0;
  return w.rows.rows.get(vm.id)!;
}

/** What the operation records when the handler fails (null: it succeeded). */
const failureOf = (work: Promise<unknown>) =>
  work.then(
    () => null,
    (error: unknown) => operationErrorFrom(error).code,
  );

const stateEvents = (published: NewEvent[]) =>
  published.filter((event) => event.type === 'vm.state').map((event) => event.payload);

describe('VmOperations', () => {
  beforeAll(() => Logger.overrideLogger(false));

  describe('vm.create', () => {
    it('makes a qcow2 overlay of the disk image in the VM pool at the requested size, defines and starts the domain: the VM runs', async () => {
      const vm = newVm();
      const w = world(vm);
      const { run, port, rows, published } = w;

      expect(await run('vm.create', vm.id, { start: true, cloudInit: null })).toEqual({ state: 'running' });

      const paths = filesOf(w, vm.id);
      expect((await port.listStoragePools()).map((pool) => [pool.name, pool.path])).toEqual([
        ['limen-images', '/images'],
        ['limen-vms', VM_DIR],
      ]);
      expect(port.files.list(VM_DIR)).toEqual(
        [paths.disk, paths.seedIso, paths.serialLog].map((path) => path.slice(VM_DIR.length + 1)).sort(),
      );
      expect(port.files.file(paths.disk)).toMatchObject({
        format: 'qcow2',
        backingPath: '/images/cloud.qcow2',
        virtualSizeBytes: 5 * GIB,
      });
      const domain = await port.getDomain(vm.id);
      expect(domain).toMatchObject({ state: 'running', vcpus: 2, memoryMiB: vm.memoryMiB, ownerId: 'alice' });
      // A disk image always gets its seed (hostname, network-config), cloudInit or not.
      expect(domain.disks.map((disk) => [disk.device, disk.path ?? null])).toEqual([
        ['disk', paths.disk],
        ['cdrom', null],
        ['cdrom', paths.seedIso],
      ]);
      // The disk is the vm_disks row's: its id, serial and boot rank.
      const [row] = await w.disks.ofVm(vm.id);
      expect(domain.disks[0]).toMatchObject({ id: row.id, serial: row.serial });
      expect(domain.serialLogPath).toBe(paths.serialLog);
      expect(rows.rows.get(vm.id)).toMatchObject({ state: 'running', version: 2, runningVcpus: 2 });
      expect(stateEvents(published)).toEqual([{ vmId: vm.id, state: 'running', stateReason: null, version: 2 }]);
    });

    it('makes an empty volume for each data disk and defines the domain with every disk (ids, serials, buses); a failure deletes them all', async () => {
      const vm = newVm({ diskGiB: 8 });
      const w = world(vm);
      const data = [
        newVmDisk({ vmId: vm.id, position: 1, sizeGiB: 2 }, (id) => diskVolumeName(vm.id, id)),
        newVmDisk({ vmId: vm.id, position: 2, sizeGiB: 1, bus: 'scsi' }, (id) => diskVolumeName(vm.id, id)),
      ];
      for (const disk of data) await w.disks.add({} as Tx, disk);
      await w.run('vm.create', vm.id, { start: true, cloudInit: null });
      for (const disk of data) {
        const file = w.port.files.file(`${VM_DIR}/${disk.volume}`)!;
        expect([file.format, file.virtualSizeBytes, file.backingPath]).toEqual([
          'qcow2',
          disk.sizeGiB * GIB,
          undefined,
        ]);
      }
      const rows = await w.disks.ofVm(vm.id);
      const domain = await w.port.getDomain(vm.id);
      expect(
        domain.disks.filter((disk) => disk.device === 'disk').map((disk) => [disk.id, disk.serial, disk.bus]),
      ).toEqual(rows.map((disk) => [disk.id, disk.serial, disk.bus]));

      const failed = newVm({ name: 'failed', diskGiB: 6 });
      w.rows.rows.set(failed.id, failed);
      await w.disks.add({} as Tx, bootDisk(failed));
      await w.disks.add(
        {} as Tx,
        newVmDisk({ vmId: failed.id, position: 1, sizeGiB: 1 }, (id) => diskVolumeName(failed.id, id)),
      );
      w.port.failNext('defineDomain', new HypervisorError('INVALID_ARGUMENT', 'injected'));
      expect(await failureOf(w.run('vm.create', failed.id, { start: true, cloudInit: null }))).toBe('INVALID_ARGUMENT');
      expect(w.port.files.list(VM_DIR).filter((name) => name.startsWith(failed.id))).toEqual([]);
    });

    it('never makes the overlay smaller than the image it covers', async () => {
      const vm = newVm({ diskGiB: 1 });
      const w = world(vm);
      await w.run('vm.create', vm.id, { start: false, cloudInit: null });
      expect(w.port.files.file(filesOf(w, vm.id).disk)!.virtualSizeBytes).toBe(3 * GIB);
    });

    it('with start false defines the domain and leaves it shut off: the VM is stopped', async () => {
      const vm = newVm();
      const { run, port, rows, published } = world(vm);
      expect(await run('vm.create', vm.id, { start: false, cloudInit: null })).toEqual({ state: 'stopped' });
      expect((await port.getDomain(vm.id)).state).toBe('shutoff');
      expect(port.calls.some((call) => call.method === 'start')).toBe(false);
      expect(rows.rows.get(vm.id)).toMatchObject({ state: 'stopped', version: 2, runningVcpus: null });
      expect(stateEvents(published)).toEqual([{ vmId: vm.id, state: 'stopped', stateReason: null, version: 2 }]);
    });

    it('from an ISO: a blank disk of the requested size and the ISO in the CD-ROM drive, booted first', async () => {
      const vm = newVm({ imageId: 'iso', mediaImageId: 'iso', bootOrder: ['cdrom', 'hd'] });
      const w = world(vm);
      const { run, port } = w;
      await run('vm.create', vm.id, { start: true, cloudInit: null });
      const disk = port.files.file(filesOf(w, vm.id).disk)!;
      expect(disk.backingPath).toBeUndefined();
      expect(disk.virtualSizeBytes).toBe(5 * GIB);
      const domain = await port.getDomain(vm.id);
      expect(domain.disks.find((d) => d.device === 'cdrom')?.path).toBe('/images/install.iso');
      expect(domain.bootOrder).toEqual(['cdrom', 'hd']);
    });

    it('writes a seed ISO (instance id, hostname, keys, network-config of its NICs) for every disk image, none for an ISO', async () => {
      const [withSeed, plain, iso] = [
        newVm({ name: 'seeded' }),
        newVm({ name: 'plain' }),
        newVm({ name: 'installer', imageId: 'iso', mediaImageId: 'iso', bootOrder: ['cdrom', 'hd'] }),
      ];
      const w = world(withSeed, plain, iso);
      const { run, port, nics } = w;
      for (const [i, vm] of [withSeed, plain, iso].entries())
        await nics.insertIfMacFree({} as Tx, nicRow(vm.id, `02:00:00:00:00:0${i}`));
      const cloudInit = { hostname: 'web', sshAuthorizedKeys: ['ssh-ed25519 AAAA alice'] };
      await run('vm.create', withSeed.id, { start: true, cloudInit });
      await run('vm.create', plain.id, { start: true, cloudInit: null });
      await run('vm.create', iso.id, { start: true, cloudInit: null });

      const seed = port.files.file(filesOf(w, withSeed.id).seedIso)!;
      expect(seed.label).toBe('cidata');
      expect(JSON.parse(seed.documents!['meta-data'])).toEqual({ 'instance-id': withSeed.id, 'local-hostname': 'web' });
      expect(seed.documents!['user-data']).toBe(
        '#cloud-config\nhostname: "web"\nssh_authorized_keys:\n  - "ssh-ed25519 AAAA alice"\n',
      );
      expect(JSON.parse(seed.documents!['network-config'])).toEqual({
        version: 2,
        ethernets: { nic0: { match: { macaddress: '02:00:00:00:00:00' }, 'set-name': 'eth0', dhcp4: true } },
      });
      expect((await port.getDomain(withSeed.id)).disks.some((disk) => disk.seed)).toBe(true);
      const plainSeed = port.files.file(filesOf(w, plain.id).seedIso)!;
      expect(JSON.parse(plainSeed.documents!['meta-data'])).toEqual({
        'instance-id': plain.id,
        'local-hostname': 'plain',
      });
      expect(plainSeed.documents!['network-config']).toContain('02:00:00:00:00:01');
      expect((await port.getDomain(plain.id)).disks.some((disk) => disk.seed)).toBe(true);
      expect(port.files.file(filesOf(w, iso.id).seedIso)).toBeUndefined();
      expect((await port.getDomain(iso.id)).disks.some((disk) => disk.seed)).toBe(false);
    });

    it("passes the caller's own user-data through unchanged", async () => {
      const vm = newVm();
      const w = world(vm);
      await w.run('vm.create', vm.id, { start: false, cloudInit: { userData: '#!/bin/sh\necho hi\n' } });
      expect(w.port.files.file(filesOf(w, vm.id).seedIso)!.documents!['user-data']).toBe('#!/bin/sh\necho hi\n');
    });

    it('re-run after a crash that left the disk behind: keeps that disk and succeeds', async () => {
      const vm = newVm();
      const w = world(vm);
      const { run, port, rows } = w;
      const [row] = await w.disks.ofVm(vm.id);
      await port.ensureStoragePool({ name: 'limen-vms', type: 'dir', path: VM_DIR });
      await port.createVolume({ pool: 'limen-vms', name: row.volume, sizeBytes: 5 * GIB });
      const { disk } = filesOf(w, vm.id);
      port.files.write(disk, Buffer.from('written before the crash'));

      expect(await run('vm.create', vm.id, { start: true, cloudInit: null })).toEqual({ state: 'running' });
      expect(port.files.read(disk, 0, 24).toString()).toBe('written before the crash');
      expect(rows.rows.get(vm.id)!.state).toBe('running');
    });

    it('re-run after a crash once everything was made (domain defined and running): succeeds as well', async () => {
      const vm = newVm();
      const { run, port, rows } = world(vm);
      const cloudInit = { hostname: 'web' };
      await run('vm.create', vm.id, { start: true, cloudInit });
      expect(await run('vm.create', vm.id, { start: true, cloudInit })).toEqual({ state: 'running' });
      expect(await port.listDomains()).toHaveLength(1);
      expect(rows.rows.get(vm.id)!.state).toBe('running');
    });

    it.each([
      ['ensureStoragePool', 'HYPERVISOR_UNAVAILABLE'],
      ['createVolume', 'OPERATION_FAILED'],
      ['createSeedIso', 'OPERATION_FAILED'],
      ['defineDomain', 'INVALID_ARGUMENT'],
      ['start', 'OPERATION_FAILED'],
    ] as const)(
      'a failure of %s takes everything down (no domain, no volume, the row removed with vm.deleted) and fails with %s',
      async (method, code) => {
        const vm = newVm();
        const { run, port, rows, published } = world(vm);
        port.failNext(method, new HypervisorError(code, `injected ${code}`));

        expect(await failureOf(run('vm.create', vm.id, { start: true, cloudInit: { hostname: 'web' } }))).toBe(code);

        expect(await port.listDomains()).toEqual([]);
        expect(port.files.list(VM_DIR)).toEqual([]);
        expect(rows.rows.has(vm.id)).toBe(false);
        expect(published).toEqual([
          { type: 'vm.deleted', ownerId: 'alice', vmId: vm.id, payload: { vmId: vm.id, name: vm.name } },
        ]);
      },
    );

    it('a full VM_DIR fails as 507 INSUFFICIENT_STORAGE without the host path, and the VM is removed', async () => {
      const vm = newVm();
      const { run, port, rows } = world(vm);
      port.failNext('createVolume', new HypervisorError('INSUFFICIENT_STORAGE', `${VM_DIR}: No space left on device`));
      const failure = run('vm.create', vm.id, { start: true, cloudInit: null });
      await expect(failure).rejects.toMatchObject({ status: 507, code: 'INSUFFICIENT_STORAGE' });
      await expect(failure).rejects.toMatchObject({ detail: expect.not.stringContaining(VM_DIR) });
      expect(rows.rows.has(vm.id)).toBe(false);
    });

    it("on a host that cannot see IMAGE_DIR (a remote libvirt), layers the disk over a copy of the image uploaded into the host's VM pool", async () => {
      const vm = newVm({ hostId: 'id-far', imageId: 'local-file' });
      const w = world(vm);
      const far = w.hostPorts.forHost('id-far');
      await w.run('vm.create', vm.id, { start: true, cloudInit: null });

      const image = IMAGES.find((i) => i.id === 'local-file')!;
      const copy = `/var/lib/limen/pool/${imageVolumeName(image.sha256!, 'qcow2')}`;
      expect((await far.getDomain(vm.id)).state).toBe('running');
      expect(far.files.file(`/var/lib/limen/pool/${[...w.disks.rows.values()][0].volume}`)).toEqual(
        expect.objectContaining({ backingPath: copy }),
      );
      expect(await w.hostImages.find('id-far', 'local-file')).toEqual(expect.objectContaining({ state: 'ready' }));
      // The api's own machine never needs a copy.
      expect(w.port.calls.filter((c) => c.method === 'uploadVolume')).toEqual([]);
    });

    it("happens on the VM's own host", async () => {
      const vm = newVm({ hostId: 'id-two' });
      const { run, port, hostPorts } = world(vm);
      await run('vm.create', vm.id, { start: true, cloudInit: null });
      expect((await hostPorts.forHost('id-two').getDomain(vm.id)).state).toBe('running');
      expect(await port.listDomains()).toEqual([]);
    });
  });

  describe('vm.delete', () => {
    it('destroys and undefines the domain, removes its volumes and the row, and announces vm.deleted', async () => {
      const w = world();
      const vm = await madeVm(w, {}, true);

      expect(await w.run('vm.delete', vm.id, {})).toEqual({});

      expect(await w.port.listDomains()).toEqual([]);
      expect(w.port.files.list(VM_DIR)).toEqual([]);
      expect(w.rows.rows.has(vm.id)).toBe(false);
      expect(w.published).toEqual([
        { type: 'vm.deleted', ownerId: 'alice', vmId: vm.id, payload: { vmId: vm.id, name: vm.name } },
      ]);
    });

    it('succeeds when the domain is already gone', async () => {
      const w = world();
      const vm = await madeVm(w, {}, false);
      await w.port.undefineDomain(vm.id);
      expect(await w.run('vm.delete', vm.id, {})).toEqual({});
      expect(w.port.files.list(VM_DIR)).toEqual([]);
      expect(w.rows.rows.has(vm.id)).toBe(false);
      expect(w.published.map((event) => event.type)).toEqual(['vm.deleted']);
    });

    it('of a VM made before storage pools removes its own folder under VM_DIR with its files', async () => {
      const w = world();
      const vm = newVm({ state: 'stopped' });
      w.rows.rows.set(vm.id, vm);
      const legacy = Object.assign(bootDisk(vm), { volume: `${vm.id}/disk.qcow2` });
      await w.disks.add({} as Tx, legacy);
      const folder = `${VM_DIR}/${vm.id}`;
      for (const name of ['disk.qcow2', 'seed.iso', 'serial.log']) w.port.files.put(`${folder}/${name}`);
      await w.port.defineDomain({
        vmId: vm.id,
        ownerId: vm.ownerId,
        vcpus: 1,
        memoryMiB: 256,
        disks: [{ id: legacy.id, path: `${folder}/disk.qcow2` }],
        seedIsoPath: `${folder}/seed.iso`,
        serialLogPath: `${folder}/serial.log`,
      });
      // Its definition keeps naming the old files when it is rewritten.
      w.rows.rows.set(vm.id, Object.assign(new Vm(), vm, { bootOrder: ['cdrom', 'hd'] }));
      await w.run('vm.update', vm.id, { vcpus: null, memoryMiB: null, bootOrder: ['cdrom', 'hd'] });
      const domain = await w.port.getDomain(vm.id);
      expect(domain.disks.filter((d) => d.path?.startsWith(folder)).map((d) => d.path)).toEqual([
        `${folder}/disk.qcow2`,
        `${folder}/seed.iso`,
      ]);
      expect(domain.serialLogPath).toBe(`${folder}/serial.log`);

      expect(await w.run('vm.delete', vm.id, {})).toEqual({});
      expect(w.port.files.list(VM_DIR)).toEqual([]);
      expect(w.port.files.folder(folder)).toBeUndefined();
    });

    it('of a VM whose row is already gone answers alreadyDeleted and announces nothing', async () => {
      const { run, published } = world();
      expect(await run('vm.delete', 'vm-gone', {})).toEqual({ alreadyDeleted: true });
      expect(published).toEqual([]);
    });

    it('keeps the row when the hypervisor refuses, so a retry can finish the delete', async () => {
      const w = world();
      const vm = await madeVm(w, {}, true);
      w.port.failNext('undefineDomain', new HypervisorError('OPERATION_FAILED', 'busy'));
      expect(await failureOf(w.run('vm.delete', vm.id, {}))).toBe('OPERATION_FAILED');
      expect(w.rows.rows.has(vm.id)).toBe(true);
      expect(w.published).toEqual([]);

      expect(await w.run('vm.delete', vm.id, {})).toEqual({});
      expect(w.rows.rows.has(vm.id)).toBe(false);
    });
  });

  describe('power actions', () => {
    it.each([
      ['vm.start', 'stopped', 'running', 'running'],
      ['vm.stop', 'running', 'stopped', 'shutoff'],
      ['vm.shutdown', 'running', 'stopped', 'shutoff'],
      ['vm.suspend', 'running', 'paused', 'paused'],
      ['vm.resume', 'paused', 'running', 'running'],
      ['vm.reboot', 'running', 'running', 'running'],
      ['vm.reset', 'running', 'running', 'running'],
    ] as const)(
      '%s: a VM that was %s ends %s (domain %s), its version bumped when that changes it',
      async (kind, from, to, domainState) => {
        const w = world();
        let vm = await madeVm(w, {}, from !== 'stopped');
        if (from === 'paused') {
          await w.port.suspend(vm.id);
          vm = (await w.rows.writeState(vm.id, { state: 'paused' }))!;
        }

        expect(await w.run(kind, vm.id, ACTION)).toMatchObject({ state: to });

        expect((await w.port.getDomain(vm.id)).state).toBe(domainState);
        // A reboot or reset leaves the row as it was (same state, same booted sizes): no new version, no event.
        const version = from === to ? vm.version : vm.version + 1;
        expect(w.rows.rows.get(vm.id)).toMatchObject({ state: to, version });
        expect(stateEvents(w.published)).toEqual(
          from === to ? [] : [{ vmId: vm.id, state: to, stateReason: null, version }],
        );
      },
    );

    it('reboot and reset boot the guest again', async () => {
      const w = world();
      const vm = await madeVm(w);
      await w.run('vm.reboot', vm.id, ACTION);
      await w.run('vm.reset', vm.id, ACTION);
      expect(await w.port.tailSerialLog(vm.id)).toBe(BOOT_OUTPUT.repeat(3));
    });

    it("start of a running VM and stop of a stopped one succeed: the hypervisor's INVALID_STATE means already done", async () => {
      const w = world();
      const running = await madeVm(w, { name: 'running' }, true);
      const stopped = await madeVm(w, { name: 'stopped' }, false);
      expect(await w.run('vm.start', running.id, ACTION)).toEqual({ state: 'running' });
      expect(await w.run('vm.stop', stopped.id, ACTION)).toEqual({ state: 'stopped' });
      expect(w.rows.rows.get(stopped.id)).toMatchObject({ state: 'stopped', version: stopped.version });
    });

    it('start of a crashed VM runs it again', async () => {
      const w = world();
      const vm = await madeVm(w);
      w.port.crash(vm.id);
      expect(await w.run('vm.start', vm.id, ACTION)).toEqual({ state: 'running' });
      expect(w.rows.rows.get(vm.id)!.state).toBe('running');
    });

    it('shutdown of a guest that ignores ACPI: with force, powered off after the timeout (forced)', async () => {
      const w = world();
      const vm = await madeVm(w);
      w.port.ignoreAcpi(vm.id);
      expect(await w.run('vm.shutdown', vm.id, { timeoutSeconds: 5, force: true })).toEqual({
        state: 'stopped',
        forced: true,
      });
      expect(w.port.calls.find((call) => call.method === 'shutdown')!.args[1]).toEqual({
        timeoutMs: 5000,
        forceAfterTimeout: true,
      });
      expect(w.rows.rows.get(vm.id)!.state).toBe('stopped');
    });

    it('shutdown of a guest that ignores ACPI, without force: TIMEOUT, and the VM stays running as it was', async () => {
      const w = world();
      const vm = await madeVm(w);
      w.port.ignoreAcpi(vm.id);
      expect(await failureOf(w.run('vm.shutdown', vm.id, ACTION))).toBe('TIMEOUT');
      expect((await w.port.getDomain(vm.id)).state).toBe('running');
      expect(w.rows.rows.get(vm.id)).toMatchObject({ state: 'running', version: vm.version });
      expect(w.published).toEqual([]);
    });

    it('shutdown of a guest that honours ACPI is not forced', async () => {
      const w = world();
      const vm = await madeVm(w);
      expect(await w.run('vm.shutdown', vm.id, { timeoutSeconds: 5, force: true })).toEqual({
        state: 'stopped',
        forced: false,
      });
    });

    it("an action the hypervisor refuses fails with its code and leaves the VM's row alone", async () => {
      const w = world();
      const vm = await madeVm(w);
      w.port.failNext('suspend', new HypervisorError('OPERATION_FAILED', 'qemu says no'));
      expect(await failureOf(w.run('vm.suspend', vm.id, ACTION))).toBe('OPERATION_FAILED');
      expect(w.rows.rows.get(vm.id)).toMatchObject({ state: 'running', version: vm.version });
      expect(w.published).toEqual([]);
    });

    it('an action on a VM that no longer exists fails with DOMAIN_NOT_FOUND', async () => {
      const { run } = world();
      expect(await failureOf(run('vm.start', 'vm-gone', ACTION))).toBe('DOMAIN_NOT_FOUND');
    });
  });

  describe('vm.update', () => {
    // VmsService.update writes the new sizes and boot order to the row in the request; the operation follows.
    const resized = { vcpus: 3, memoryMiB: 512, bootOrder: ['cdrom', 'hd'] as Vm['bootOrder'] };

    it('puts new vCPUs, memory and boot order into the definition of a stopped VM', async () => {
      const w = world();
      const vm = await madeVm(w, {}, false);
      w.rows.rows.set(vm.id, Object.assign(new Vm(), vm, resized));

      expect(await w.run('vm.update', vm.id, resized)).toEqual({
        vcpus: { config: true, live: false },
        memoryMiB: { config: true, live: false },
        bootOrder: { config: true, live: false },
      });
      expect(await w.port.getDomain(vm.id)).toMatchObject(resized);
    });

    it('of a running VM: the next boot has the new sizes', async () => {
      const w = world();
      const vm = await madeVm(w, {}, true);
      w.rows.rows.set(vm.id, Object.assign(new Vm(), vm, { vcpus: 3, memoryMiB: 512 }));
      await w.run('vm.update', vm.id, { vcpus: 3, memoryMiB: 512, bootOrder: null });
      await w.port.destroy(vm.id);
      expect(await w.port.getDomain(vm.id)).toMatchObject({ vcpus: 3, memoryMiB: 512 });
    });

    it('changes only what it is given, and a new boot order keeps the seed ISO attached', async () => {
      const vm = newVm();
      const { run, port, rows } = world(vm);
      await run('vm.create', vm.id, { start: false, cloudInit: { hostname: 'web' } });
      rows.rows.set(vm.id, Object.assign(new Vm(), rows.rows.get(vm.id), { bootOrder: ['network', 'hd'] }));

      expect(await run('vm.update', vm.id, { vcpus: null, memoryMiB: null, bootOrder: ['network', 'hd'] })).toEqual({
        bootOrder: { config: true, live: false },
      });
      expect(port.calls.filter((call) => call.method === 'setVcpus' || call.method === 'setMemory')).toEqual([]);
      const domain = await port.getDomain(vm.id);
      expect(domain.bootOrder).toEqual(['network', 'hd']);
      expect(domain.disks.some((disk) => disk.seed)).toBe(true);
    });
  });

  describe('media', () => {
    const cdromOf = async (port: FakeVirtualizationPort, vmId: string) =>
      (await port.getDomain(vmId)).disks.find((disk) => disk.device === 'cdrom' && !disk.seed)!.path ?? null;

    it('insert puts the ISO into the CD-ROM drive and saves mediaImageId', async () => {
      const w = world();
      const vm = await madeVm(w);
      expect(await w.run('vm.media.insert', vm.id, { imageId: 'rescue' })).toEqual({ mediaImageId: 'rescue' });
      expect(await cdromOf(w.port, vm.id)).toBe('/images/rescue.iso');
      expect(w.rows.rows.get(vm.id)).toMatchObject({ mediaImageId: 'rescue', version: vm.version + 1 });
    });

    it('eject empties the drive and clears mediaImageId', async () => {
      const w = world();
      const vm = await madeVm(w, { imageId: 'iso', mediaImageId: 'iso', bootOrder: ['cdrom', 'hd'] }, false);
      expect(await w.run('vm.media.eject', vm.id, {})).toEqual({ mediaImageId: null });
      expect(await cdromOf(w.port, vm.id)).toBeNull();
      expect(w.rows.rows.get(vm.id)).toMatchObject({ mediaImageId: null, version: vm.version + 1 });
    });

    it('insert of an image that is gone fails NOT_FOUND and changes nothing', async () => {
      const w = world();
      const vm = await madeVm(w);
      expect(await failureOf(w.run('vm.media.insert', vm.id, { imageId: 'gone' }))).toBe('NOT_FOUND');
      expect(await cdromOf(w.port, vm.id)).toBeNull();
      expect(w.rows.rows.get(vm.id)).toMatchObject({ mediaImageId: null, version: vm.version });
    });
  });

  describe('vm.create from a clone source', () => {
    /** The clone's row and disk rows as VmClonesService writes them: the source's disks by position. */
    async function cloneOf(w: World, source: Vm, linked: boolean): Promise<Vm> {
      new VmCloneDisks(
        { dataDir: mkdtempSync(join(tmpdir(), 'limen-clone-')) } as AppConfig,
        w.diskSources,
        w.rowsRepository,
        w.disks.asRepository,
      ).onModuleInit();
      const clone = newVm({ diskGiB: source.diskGiB });
      w.rows.rows.set(clone.id, clone);
      for (const from of await w.disks.ofVm(source.id)) {
        const disk = newVmDisk(
          { vmId: clone.id, position: from.position, sizeGiB: from.sizeGiB, bootIndex: from.bootIndex },
          (id) => diskVolumeName(clone.id, id),
        );
        disk.baseVolume = linked ? baseVolumeName(clone.id, disk.id) : null;
        await w.disks.add({} as Tx, disk);
      }
      return clone;
    }
    const source = (vmId: string, linked: boolean, snapshotName: string | null = null) => ({
      kind: 'clone' as const,
      vmId,
      linked,
      snapshotName,
    });
    const volume = (w: World, name: string) => w.port.getVolume({ pool: 'limen-vms', name }).catch(() => null);

    it('full: each disk a standalone copy of the source disk at its position; the clone runs', async () => {
      const w = world();
      const original = await madeVm(w, {}, false);
      const clone = await cloneOf(w, original, false);
      expect(
        await w.run('vm.create', clone.id, { start: true, cloudInit: null, source: source(original.id, false) }),
      ).toEqual({ state: 'running' });
      const [disk] = await w.disks.ofVm(clone.id);
      const copy = await volume(w, disk.volume);
      expect(copy).toMatchObject({ virtualSizeBytes: 5 * GIB });
      expect(copy!.backingPath).toBeUndefined();
      expect(w.port.files.list(VM_DIR).filter((name) => name.includes('-base-'))).toEqual([]);
    });

    it('linked: each disk an overlay over a base copy of its own; the base goes with the VM, not with the source', async () => {
      const w = world();
      const original = await madeVm(w, {}, false);
      const clone = await cloneOf(w, original, true);
      await w.run('vm.create', clone.id, { start: false, cloudInit: null, source: source(original.id, true) });
      const [disk] = await w.disks.ofVm(clone.id);
      const base = await volume(w, disk.baseVolume!);
      expect(base!.backingPath).toBeUndefined();
      expect((await volume(w, disk.volume))!.backingPath).toBe(`${VM_DIR}/${disk.baseVolume}`);

      await w.run('vm.delete', original.id, {});
      expect(await volume(w, disk.baseVolume!)).not.toBeNull();
      await w.run('vm.delete', clone.id, {});
      expect(await volume(w, disk.baseVolume!)).toBeNull();
    });

    it('a base another disk is still an overlay of stays when a VM over it is deleted', async () => {
      const w = world();
      const original = await madeVm(w, {}, false);
      const clone = await cloneOf(w, original, true);
      await w.run('vm.create', clone.id, { start: false, cloudInit: null, source: source(original.id, true) });
      const [disk] = await w.disks.ofVm(clone.id);
      const other = newVmDisk({ vmId: 'other-vm', position: 0, sizeGiB: 1 }, () => 'other.qcow2');
      other.baseVolume = disk.baseVolume;
      await w.disks.add({} as Tx, other);
      await w.run('vm.delete', clone.id, {});
      expect(await volume(w, disk.baseVolume!)).not.toBeNull();
    });

    it('a re-run after a crash makes the disks again and converges', async () => {
      const w = world();
      const original = await madeVm(w, {}, false);
      const clone = await cloneOf(w, original, true);
      const params = { start: false, cloudInit: null, source: source(original.id, true) };
      await w.run('vm.create', clone.id, params);
      expect(await w.run('vm.create', clone.id, params)).toEqual({ state: 'stopped' });
      const [disk] = await w.disks.ofVm(clone.id);
      expect((await volume(w, disk.volume))!.backingPath).toBe(`${VM_DIR}/${disk.baseVolume}`);
    });

    it('a source started since the request: INVALID_STATE, the clone torn down with its bases', async () => {
      const w = world();
      const original = await madeVm(w, {}, true);
      const clone = await cloneOf(w, original, true);
      const [disk] = await w.disks.ofVm(clone.id);
      expect(
        await failureOf(
          w.run('vm.create', clone.id, { start: true, cloudInit: null, source: source(original.id, true) }),
        ),
      ).toBe('INVALID_STATE');
      expect(w.rows.rows.has(clone.id)).toBe(false);
      expect(await volume(w, disk.baseVolume!)).toBeNull();
      expect(await volume(w, disk.volume)).toBeNull();
    });

    it('a source gone since the request fails the create and leaves nothing', async () => {
      const w = world();
      const original = await madeVm(w, {}, false);
      const clone = await cloneOf(w, original, false);
      await w.run('vm.delete', original.id, {});
      expect(
        await failureOf(
          w.run('vm.create', clone.id, { start: true, cloudInit: null, source: source(original.id, false) }),
        ),
      ).toBe('DOMAIN_NOT_FOUND');
      expect(w.rows.rows.has(clone.id)).toBe(false);
    });
  });
});
