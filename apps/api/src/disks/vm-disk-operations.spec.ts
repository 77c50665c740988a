import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { diskVolumeName, HypervisorError } from '@limen/libvirt';
import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { AppException } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { FakeTransactions } from '../database/testing/fake-transactions';
import { Tx } from '../database/transaction';
import { EventsService, NewEvent } from '../events/events.service';
import { HostStorage } from '../hosts/host-storage';
import { FakeHostPorts, FakeHostRepository, hostRow } from '../hosts/testing/fake-hosts';
import { OperationKind, OperationParams } from '../operations/operation-kinds';
import { Operation } from '../operations/operation.entity';
import { OperationHandler, OperationRunner, operationErrorFrom } from '../operations/operation-runner';
import { FakeVmRepository, vmRow } from '../vms/testing/fake-vm-repository';
import { Vm } from '../vms/vm.entity';
import { FakeVmDiskRepository } from './testing/fake-vm-disk-repository';
import { diskSpecOf } from './disk-layout';
import { VmDiskOperations } from './vm-disk-operations';
import { newVmDisk } from './vm-disk-fields';
import { VmDisk } from './vm-disk.entity';

const VM_DIR = '/var/lib/limen/vms';
const GIB = 1024 ** 3;
const tx = {} as Tx;

/** VmDiskOperations on one host's fake hypervisor, with VMs set up there as a create leaves them. */
function world() {
  const rows = new FakeVmRepository();
  const disks = new FakeVmDiskRepository();
  const published: NewEvent[] = [];
  const events = { publish: async (event: NewEvent) => void published.push(event) } as unknown as EventsService;
  const hostPorts = new FakeHostPorts(new FakeHostRepository(hostRow('one')), () => new FakeVirtualizationPort());
  const handlers = new Map<string, OperationHandler>();
  const runner = { register: (kind: string, handler: OperationHandler) => handlers.set(kind, handler) };
  const config = {
    hostName: 'one',
    hypervisor: { vmPool: 'limen-vms', imagePool: 'limen-images', vmDir: VM_DIR, storageRoots: ['/var/lib/limen'] },
  } as AppConfig;
  const storage = new HostStorage(config, hostPorts.asPorts);
  const port = hostPorts.forHost('id-one') as FakeVirtualizationPort;
  new VmDiskOperations(
    disks.asRepository,
    rows.asRepository,
    hostPorts.asPorts,
    storage,
    new FakeTransactions(rows.rows, disks.rows).asTransactions,
    runner as unknown as OperationRunner,
    events,
  ).onModuleInit();
  const run = <K extends OperationKind>(kind: K, vmId: string, params: OperationParams[K]) =>
    handlers.get(kind)!(Object.assign(new Operation<K>(), { id: `op-${kind}`, kind, ownerId: 'alice', vmId, params }));

  /** A VM with its 2 GiB boot disk in the VM pool and its domain defined (and running, if asked). */
  async function madeVm(start: boolean): Promise<Vm> {
    const vm = vmRow({ id: randomUUID(), hostId: 'id-one', state: start ? 'running' : 'stopped', diskGiB: 2 });
    rows.rows.set(vm.id, vm);
    const boot = diskRow(vm.id, 0, 2);
    await disks.add(tx, boot);
    const pool = await storage.vmPool(vm.hostId);
    const volume = await port.createVolume({ pool: pool.name, name: boot.volume, sizeBytes: 2 * GIB });
    await port.defineDomain({
      vmId: vm.id,
      ownerId: vm.ownerId,
      vcpus: 1,
      memoryMiB: 256,
      disks: [diskSpecOf(boot, volume.path)],
      serialLogPath: `${VM_DIR}/${vm.id}-serial.log`,
    });
    if (start) await port.start(vm.id);
    return vm;
  }

  /** What VmDisksService leaves for a vm.disk.add: the row, and the VM's total grown by it. */
  async function acceptedDisk(vm: Vm, sizeGiB: number, bus: 'virtio' | 'scsi' = 'virtio'): Promise<VmDisk> {
    const position = (await disks.ofVm(vm.id)).length;
    const disk = Object.assign(diskRow(vm.id, position, sizeGiB), { bus });
    await disks.add(tx, disk);
    await rows.update(vm.id, { diskGiB: await disks.totalGiB(vm.id) });
    return disk;
  }

  const volumePath = (disk: VmDisk) => `${VM_DIR}/${disk.volume}`;
  const domainDisk = async (vm: Vm, diskId: string) =>
    (await port.getDomain(vm.id)).disks.find((disk) => disk.id === diskId);
  const totalOf = (vm: Vm) => rows.rows.get(vm.id)!.diskGiB;
  return { run, rows, disks, port, published, madeVm, acceptedDisk, volumePath, domainDisk, totalOf };
}

function diskRow(vmId: string, position: number, sizeGiB: number): VmDisk {
  const fields = { vmId, position, sizeGiB, bootIndex: position === 0 ? 1 : null };
  return newVmDisk(fields, (id) => diskVolumeName(vmId, id));
}

const failureOf = (work: Promise<unknown>) =>
  work.then(
    () => null,
    (error: unknown) => operationErrorFrom(error),
  );

describe('VmDiskOperations', () => {
  beforeAll(() => Logger.overrideLogger(false));

  describe('vm.disk.add', () => {
    it('makes an empty qcow2 volume in the VM pool and puts it in a stopped VM’s definition', async () => {
      const w = world();
      const vm = await w.madeVm(false);
      const disk = await w.acceptedDisk(vm, 4, 'scsi');
      expect(await w.run('vm.disk.add', vm.id, { diskId: disk.id })).toEqual({ diskId: disk.id, live: false });
      expect(w.port.files.file(w.volumePath(disk))).toMatchObject({ format: 'qcow2', virtualSizeBytes: 4 * GIB });
      expect(w.port.files.file(w.volumePath(disk))!.backingPath).toBeUndefined();
      expect(await w.domainDisk(vm, disk.id)).toMatchObject({
        path: w.volumePath(disk),
        serial: disk.serial,
        bus: 'scsi',
      });
      expect(w.published).toEqual([
        expect.objectContaining({
          type: 'vm.disk.added',
          vmId: vm.id,
          payload: { vmId: vm.id, disk: expect.objectContaining({ id: disk.id, sizeGiB: 4, position: 1 }) },
        }),
      ]);
    });

    it('hot-plugs it into a running VM; a re-run after a crash finds both made and does not add it twice', async () => {
      const w = world();
      const vm = await w.madeVm(true);
      const disk = await w.acceptedDisk(vm, 1);
      expect(await w.run('vm.disk.add', vm.id, { diskId: disk.id })).toEqual({ diskId: disk.id, live: true });
      expect(await w.domainDisk(vm, disk.id)).toBeDefined();
      expect(await w.run('vm.disk.add', vm.id, { diskId: disk.id })).toEqual({ diskId: disk.id, live: false });
      expect((await w.port.getDomain(vm.id)).disks.filter((d) => d.id === disk.id)).toHaveLength(1);
    });

    it.each([
      ['attachDisk', 'OPERATION_FAILED', 'OPERATION_FAILED'],
      ['attachDisk', 'INVALID_STATE', 'INVALID_STATE'],
      ['createVolume', 'INSUFFICIENT_STORAGE', 'INSUFFICIENT_STORAGE'],
    ] as const)(
      'a failure of %s (%s) leaves nothing: no volume, no row, the VM’s total and quota given back',
      async (method, code, recorded) => {
        const w = world();
        const vm = await w.madeVm(true);
        const disk = await w.acceptedDisk(vm, 3);
        expect(w.totalOf(vm)).toBe(5);
        w.port.failNext(method, new HypervisorError(code, `injected ${code}`));
        const failure = await failureOf(w.run('vm.disk.add', vm.id, { diskId: disk.id }));
        expect(failure?.code).toBe(recorded);
        expect(w.port.files.file(w.volumePath(disk))).toBeUndefined();
        expect(await w.domainDisk(vm, disk.id)).toBeUndefined();
        expect(await w.disks.find(disk.id)).toBeNull();
        expect(w.totalOf(vm)).toBe(2);
        expect(w.published.map((event) => event.type)).toEqual(['vm.updated']);
      },
    );

    it('a hot-plug the hypervisor refuses for the VM’s state is 409 INVALID_STATE, saying what was refused', async () => {
      const w = world();
      const vm = await w.madeVm(true);
      const disk = await w.acceptedDisk(vm, 1);
      w.port.failNext('attachDisk', new HypervisorError('INVALID_STATE', "virsh: '/var/lib/…' busy"));
      const error = await w.run('vm.disk.add', vm.id, { diskId: disk.id }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppException);
      expect(error).toMatchObject({ code: 'INVALID_STATE' });
      expect((error as AppException).getStatus()).toBe(409);
      expect((error as AppException).detail).toMatch(/refused to add the disk/);
      expect((error as AppException).detail).not.toContain('/var/lib');
    });

    it('a disk row already gone (the add was taken back) is skipped', async () => {
      const w = world();
      const vm = await w.madeVm(false);
      expect(await w.run('vm.disk.add', vm.id, { diskId: randomUUID() })).toEqual({ skipped: true });
    });
  });

  describe('vm.disk.remove', () => {
    it('unplugs the disk, deletes its volume, then the row; the VM’s total goes down; a re-run finds it removed', async () => {
      const w = world();
      const vm = await w.madeVm(false);
      const disk = await w.acceptedDisk(vm, 3);
      await w.run('vm.disk.add', vm.id, { diskId: disk.id });
      w.published.length = 0;
      expect(await w.run('vm.disk.remove', vm.id, { diskId: disk.id })).toEqual({ diskId: disk.id, live: false });
      expect(await w.domainDisk(vm, disk.id)).toBeUndefined();
      expect(w.port.files.file(w.volumePath(disk))).toBeUndefined();
      expect(await w.disks.find(disk.id)).toBeNull();
      expect(w.totalOf(vm)).toBe(2);
      expect(w.published.map((event) => [event.type, event.payload])).toEqual([
        ['vm.updated', expect.objectContaining({ vmId: vm.id })],
        ['vm.disk.removed', { vmId: vm.id, diskId: disk.id }],
      ]);
      expect(await w.run('vm.disk.remove', vm.id, { diskId: disk.id })).toEqual({ alreadyRemoved: true });
    });

    it('a guest that does not release the disk fails it with INVALID_STATE; the row, volume and charge stay for a retry', async () => {
      const w = world();
      const vm = await w.madeVm(true);
      const disk = await w.acceptedDisk(vm, 1);
      await w.run('vm.disk.add', vm.id, { diskId: disk.id });
      w.port.failNext('detachDisk', new HypervisorError('TIMEOUT', 'the guest did not release it'));
      const failure = await failureOf(w.run('vm.disk.remove', vm.id, { diskId: disk.id }));
      expect(failure).toEqual({ code: 'INVALID_STATE', detail: expect.stringMatching(/did not release the disk/) });
      expect(await w.disks.find(disk.id)).not.toBeNull();
      expect(w.port.files.file(w.volumePath(disk))).toBeDefined();
      expect(w.totalOf(vm)).toBe(3);
      // Once it lets go, the same removal goes through.
      expect(await w.run('vm.disk.remove', vm.id, { diskId: disk.id })).toMatchObject({ diskId: disk.id });
      expect(w.port.files.file(w.volumePath(disk))).toBeUndefined();
    });
  });

  describe('vm.disk.resize', () => {
    it('grows a stopped VM’s volume and a running VM’s disk live', async () => {
      const w = world();
      for (const running of [false, true]) {
        const vm = await w.madeVm(running);
        const [boot] = await w.disks.ofVm(vm.id);
        await w.disks.resize(boot.id, 2, 6);
        w.published.length = 0;
        expect(await w.run('vm.disk.resize', vm.id, { diskId: boot.id, fromGiB: 2, sizeGiB: 6 })).toEqual({
          diskId: boot.id,
          sizeGiB: 6,
          live: running,
        });
        expect(w.port.files.file(w.volumePath(boot))!.virtualSizeBytes).toBe(6 * GIB);
        expect(w.published).toEqual([
          expect.objectContaining({
            type: 'vm.disk.resized',
            payload: { vmId: vm.id, disk: expect.objectContaining({ id: boot.id, sizeGiB: 6 }) },
          }),
        ]);
      }
    });

    it('a failure puts the size and the VM’s total back (the growth leaves the quota)', async () => {
      const w = world();
      const vm = await w.madeVm(true);
      const [boot] = await w.disks.ofVm(vm.id);
      await w.disks.resize(boot.id, 2, 6);
      await w.rows.update(vm.id, { diskGiB: 6 });
      w.port.failNext('growDisk', new HypervisorError('OPERATION_FAILED', 'injected'));
      expect((await failureOf(w.run('vm.disk.resize', vm.id, { diskId: boot.id, fromGiB: 2, sizeGiB: 6 })))?.code).toBe(
        'OPERATION_FAILED',
      );
      expect((await w.disks.find(boot.id))!.sizeGiB).toBe(2);
      expect(w.totalOf(vm)).toBe(2);
      expect(w.port.files.file(w.volumePath(boot))!.virtualSizeBytes).toBe(2 * GIB);
    });
  });
});
