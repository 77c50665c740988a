import { randomUUID } from 'node:crypto';
import { AuthUser } from '../auth/decorators';
import { AppException } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { FakeTransactions } from '../database/testing/fake-transactions';
import { HostPlacement } from '../hosts/host-placement';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { FakeIdempotencyKeyRepository } from '../idempotency/testing/fake-idempotency-key-repository';
import { MetricsService } from '../metrics/metrics.service';
import { FakeOperationsService } from '../operations/testing/fake-operations-service';
import { QuotaLedger } from '../quotas/quota-ledger';
import { FakeQuotaRepository } from '../quotas/testing/fake-quota-repository';
import { FakeVmRepository, vmRow } from '../vms/testing/fake-vm-repository';
import { Vm } from '../vms/vm.entity';
import { VmAccess } from '../vms/vm-access';
import { VmState } from '../vms/vm-state';
import { FakeVmDiskRepository } from './testing/fake-vm-disk-repository';
import { VmDisk } from './vm-disk.entity';
import { diskSerial, newVmDisk } from './vm-disk-fields';
import { VmDisksService } from './vm-disks.service';

const alice: AuthUser = { id: 'alice', username: 'alice', role: 'user' };
const bob: AuthUser = { id: 'bob', username: 'bob', role: 'user' };
const root: AuthUser = { id: 'root', username: 'root', role: 'admin' };
const GIB = 1024 ** 3;

/** A disk row as read back from the table. */
function diskRow(vmId: string, position: number, sizeGiB: number): VmDisk {
  const fields = { vmId, position, sizeGiB, bootIndex: position === 0 ? 1 : null };
  return Object.assign(
    newVmDisk(fields, (id) => `${vmId}-disk-${id}.qcow2`),
    { createdAt: new Date() },
  );
}

/** Alice's VM with its boot disk (`bootGiB`) and `data` data disks of 1 GiB, under a disk quota of `quotaGiB`. */
function world(options: { state?: VmState; bootGiB?: number; data?: number; quotaGiB?: number } = {}) {
  const { state = 'stopped', bootGiB = 2, data = 0, quotaGiB = 20 } = options;
  const vm = vmRow({ id: randomUUID(), state, diskGiB: bootGiB + data });
  const other = vmRow({ id: randomUUID(), name: 'other', state: 'stopped', diskGiB: 1 });
  const rows = new FakeVmRepository(vm, other);
  const disks = new FakeVmDiskRepository(
    diskRow(vm.id, 0, bootGiB),
    ...Array.from({ length: data }, (_, i) => diskRow(vm.id, i + 1, 1)),
    diskRow(other.id, 0, 1),
  );
  const keys = new FakeIdempotencyKeyRepository();
  const transactions = new FakeTransactions(rows.rows, disks.rows, keys.rows);
  const operations = new FakeOperationsService(new IdempotencyService(keys.asRepository, transactions.asTransactions));
  transactions.track(operations.rows);
  const quotas = new FakeQuotaRepository(rows);
  const config = {
    defaultQuota: { vms: 10, vcpus: 10, memoryMiB: 4096, diskGiB: quotaGiB, snapshots: 2 },
  } as AppConfig;
  const metrics = { quotaDenials: { inc: () => undefined } } as unknown as MetricsService;
  const placement = { assertStorageRoom: jest.fn(async () => undefined) };
  const service = new VmDisksService(
    disks.asRepository,
    new VmAccess(rows.asRepository),
    rows.asRepository,
    new QuotaLedger(config, metrics, quotas.asRepository),
    placement as unknown as HostPlacement,
    operations.asService,
  );
  const boot = [...disks.rows.values()].find((d) => d.vmId === vm.id && d.position === 0)!;
  const vmNow = () => rows.rows.get(vm.id) as Vm;
  const positions = async () => (await disks.ofVm(vm.id)).map((d) => d.position);
  return { vm, other, rows, disks, operations, quotas, placement, service, boot, vmNow, positions };
}

async function problem(work: Promise<unknown>): Promise<{ status: number; code: string; detail: string }> {
  try {
    await work;
  } catch (error) {
    if (error instanceof AppException) return { status: error.getStatus(), code: error.code, detail: error.detail };
    throw error;
  }
  throw new Error('expected a problem');
}

describe('VmDisksService', () => {
  it('lists the disks of your VM, the boot disk first; someone else’s VM is 404, an admin sees it', async () => {
    const { service, vm } = world({ data: 2 });
    const listed = await service.list(alice, vm.id);
    expect(listed.map((d) => [d.position, d.bootIndex, d.bus])).toEqual([
      [0, 1, 'virtio'],
      [1, null, 'virtio'],
      [2, null, 'virtio'],
    ]);
    expect(listed[0]).toEqual({
      id: expect.any(String),
      position: 0,
      sizeGiB: 2,
      bus: 'virtio',
      bootIndex: 1,
      serial: diskSerial(listed[0].id),
      createdAt: expect.any(String),
    });
    expect(await problem(service.list(bob, vm.id))).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    expect(await service.list(root, vm.id)).toHaveLength(3);
  });

  describe('add', () => {
    it('writes an empty data disk at the lowest free position and its operation, and charges the VM’s total', async () => {
      const { service, vm, disks, operations, vmNow, placement } = world({ data: 3 });
      // A gap at 2: the next disk fills it.
      const second = (await disks.ofVm(vm.id)).find((d) => d.position === 2)!;
      await disks.delete(second.id);
      const accepted = await service.add(alice, vm.id, { sizeGiB: 5, bus: 'scsi' });
      expect(accepted.disk).toEqual({
        id: expect.any(String),
        position: 2,
        sizeGiB: 5,
        bus: 'scsi',
        bootIndex: null,
        serial: accepted.disk.id.replace(/-/g, '').slice(0, 20),
        createdAt: expect.any(String),
      });
      expect(accepted.operation).toMatchObject({ kind: 'vm.disk.add', vmId: vm.id, status: 'pending' });
      expect(operations.rows.get(accepted.operation.id)!.params).toEqual({ diskId: accepted.disk.id });
      expect((await disks.find(accepted.disk.id))!.volume).toBe(`${vm.id}-disk-${accepted.disk.id}.qcow2`);
      // vms.disk_gib is the sum of the disks: 2 + 1 + 1 (the third data disk) + 5.
      expect(vmNow()).toMatchObject({ diskGiB: 9, version: vm.version + 1 });
      expect(operations.announced).toEqual([
        expect.objectContaining({ type: 'vm.updated', payload: expect.objectContaining({ version: vm.version + 1 }) }),
      ]);
      expect(placement.assertStorageRoom).toHaveBeenCalledWith(vm.hostId, 5 * GIB);
      // Once that has run, the next goes after the last.
      operations.finish(accepted.operation.id);
      expect((await service.add(alice, vm.id, { sizeGiB: 1 })).disk.position).toBe(4);
    });

    it('defaults to virtio; hot-plugs into a running or paused VM too (the operation does it)', async () => {
      for (const state of ['running', 'paused', 'crashed'] as const) {
        const { service, vm } = world({ state });
        expect((await service.add(alice, vm.id, { sizeGiB: 1 })).disk).toMatchObject({ bus: 'virtio', position: 1 });
      }
    });

    it('refuses a 17th disk (400) and leaves nothing written', async () => {
      const { service, vm, disks, vmNow, operations } = world({ data: 15, quotaGiB: 100 });
      expect(await problem(service.add(alice, vm.id, { sizeGiB: 1 }))).toEqual({
        status: 400,
        code: 'VALIDATION_FAILED',
        detail: 'A VM has at most 16 disks',
      });
      expect(await disks.ofVm(vm.id)).toHaveLength(16);
      expect(vmNow().diskGiB).toBe(17);
      expect(operations.rows.size).toBe(0);
    });

    it('refuses a disk beyond the owner’s disk quota (403 QUOTA_EXCEEDED), charged to the owner even when an admin adds it', async () => {
      // Alice holds 2 (boot) + 1 (the other VM) of 10 GiB.
      const { service, vm, disks, vmNow, quotas } = world({ quotaGiB: 10 });
      expect(await problem(service.add(alice, vm.id, { sizeGiB: 8 }))).toMatchObject({
        status: 403,
        code: 'QUOTA_EXCEEDED',
      });
      expect(await problem(service.add(root, vm.id, { sizeGiB: 8 }))).toMatchObject({ status: 403 });
      expect(quotas.locked).toEqual(['alice', 'alice']);
      expect(await disks.ofVm(vm.id)).toHaveLength(1);
      expect(vmNow().diskGiB).toBe(2);
      await service.add(root, vm.id, { sizeGiB: 7 });
      expect(vmNow().diskGiB).toBe(9);
    });

    it('refuses while the VM is mid-transition or its domain is not known (409 INVALID_STATE); someone else’s VM is 404', async () => {
      for (const state of ['provisioning', 'deleting', 'missing', 'error', 'unknown'] as const) {
        const { service, vm, disks } = world({ state });
        expect(await problem(service.add(alice, vm.id, { sizeGiB: 1 }))).toMatchObject({
          status: 409,
          code: 'INVALID_STATE',
        });
        expect(await disks.ofVm(vm.id)).toHaveLength(1);
      }
      const { service, vm } = world();
      expect(await problem(service.add(bob, vm.id, { sizeGiB: 1 }))).toMatchObject({ status: 404 });
    });

    it('one operation per VM at a time: a second add while the first is pending is 409 and writes nothing', async () => {
      const { service, vm, positions, vmNow } = world();
      await service.add(alice, vm.id, { sizeGiB: 1 });
      expect(await problem(service.add(alice, vm.id, { sizeGiB: 1 }))).toMatchObject({
        status: 409,
        code: 'OPERATION_IN_PROGRESS',
      });
      expect(await positions()).toEqual([0, 1]);
      expect(vmNow().diskGiB).toBe(3);
    });

    it('an Idempotency-Key replays the first answer: one disk, one operation', async () => {
      const { service, vm, positions, operations } = world();
      const idem = { key: 'add-1', fingerprint: 'f1' };
      const first = await service.add(alice, vm.id, { sizeGiB: 1 }, idem);
      await expect(service.add(alice, vm.id, { sizeGiB: 1 }, idem)).rejects.toMatchObject({
        response: { statusCode: 202, body: first },
      });
      expect(await positions()).toEqual([0, 1]);
      expect(operations.rows.size).toBe(1);
    });
  });

  describe('remove', () => {
    it('writes the vm.disk.remove operation; the row and its charge stay until it has run', async () => {
      const { service, vm, disks, operations, vmNow } = world({ data: 2 });
      const target = (await disks.ofVm(vm.id))[2];
      const accepted = await service.remove(alice, vm.id, target.id);
      expect(accepted.disk).toMatchObject({ id: target.id, position: 2 });
      expect(operations.rows.get(accepted.operation.id)).toMatchObject({
        kind: 'vm.disk.remove',
        params: { diskId: target.id },
      });
      expect(await disks.find(target.id)).not.toBeNull();
      expect(vmNow().diskGiB).toBe(4);
    });

    it('the boot disk is 409 CONFLICT; a disk of another VM, or of someone else’s VM, is 404', async () => {
      const { service, vm, other, boot, disks } = world({ data: 1 });
      expect(await problem(service.remove(alice, vm.id, boot.id))).toEqual({
        status: 409,
        code: 'CONFLICT',
        detail: 'The boot disk cannot be removed',
      });
      const othersBoot = (await disks.ofVm(other.id))[0];
      expect(await problem(service.remove(alice, vm.id, othersBoot.id))).toMatchObject({ status: 404 });
      expect(await problem(service.remove(alice, vm.id, randomUUID()))).toMatchObject({ status: 404 });
      const data = (await disks.ofVm(vm.id))[1];
      expect(await problem(service.remove(bob, vm.id, data.id))).toMatchObject({ status: 404 });
    });
  });

  describe('resize', () => {
    it('grows the row and the VM’s total at once (the quota holds the growth), the operation carrying both sizes', async () => {
      const { service, vm, boot, operations, vmNow, disks, placement } = world({ data: 1 });
      const accepted = await service.resize(alice, vm.id, boot.id, { sizeGiB: 6 });
      expect(accepted.disk).toMatchObject({ id: boot.id, sizeGiB: 6, position: 0 });
      expect(operations.rows.get(accepted.operation.id)).toMatchObject({
        kind: 'vm.disk.resize',
        params: { diskId: boot.id, fromGiB: 2, sizeGiB: 6 },
      });
      expect((await disks.find(boot.id))!.sizeGiB).toBe(6);
      expect(vmNow().diskGiB).toBe(7);
      expect(placement.assertStorageRoom).toHaveBeenCalledWith(vm.hostId, 4 * GIB);
    });

    it('a size not larger than the current one is 400 on sizeGiB; growth beyond the quota is 403; nothing changes', async () => {
      const { service, vm, boot, disks, vmNow, operations } = world({ quotaGiB: 10 });
      for (const sizeGiB of [1, 2])
        expect(await problem(service.resize(alice, vm.id, boot.id, { sizeGiB }))).toMatchObject({
          status: 400,
          code: 'VALIDATION_FAILED',
        });
      // 2 + 1 held of 10: growing to 10 adds 8.
      expect(await problem(service.resize(alice, vm.id, boot.id, { sizeGiB: 10 }))).toMatchObject({
        status: 403,
        code: 'QUOTA_EXCEEDED',
      });
      expect((await disks.find(boot.id))!.sizeGiB).toBe(2);
      expect(vmNow().diskGiB).toBe(2);
      expect(operations.rows.size).toBe(0);
      await service.resize(alice, vm.id, boot.id, { sizeGiB: 9 });
      expect(vmNow().diskGiB).toBe(9);
    });

    it('someone else’s VM or a disk of another VM is 404; a VM being deleted is 409', async () => {
      const { service, vm, other, boot, disks } = world();
      expect(await problem(service.resize(bob, vm.id, boot.id, { sizeGiB: 3 }))).toMatchObject({ status: 404 });
      const othersBoot = (await disks.ofVm(other.id))[0];
      expect(await problem(service.resize(alice, vm.id, othersBoot.id, { sizeGiB: 3 }))).toMatchObject({
        status: 404,
      });
      const deleting = world({ state: 'deleting' });
      expect(
        await problem(deleting.service.resize(alice, deleting.vm.id, deleting.boot.id, { sizeGiB: 3 })),
      ).toMatchObject({ status: 409, code: 'INVALID_STATE' });
    });
  });
});
