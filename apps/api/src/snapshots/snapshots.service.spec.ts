import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { AuthUser } from '../auth/decorators';
import { AppConfig } from '../config/app-config';
import { FakeTransactions } from '../database/testing/fake-transactions';
import { EventsService, NewEvent } from '../events/events.service';
import { Tx } from '../database/transaction';
import { FakeVmDiskRepository } from '../disks/testing/fake-vm-disk-repository';
import { newVmDisk } from '../disks/vm-disk-fields';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { FakeIdempotencyKeyRepository } from '../idempotency/testing/fake-idempotency-key-repository';
import { MetricsService } from '../metrics/metrics.service';
import { Operation } from '../operations/operation.entity';
import { OperationHandler, OperationRunner } from '../operations/operation-runner';
import { FakeOperationsService } from '../operations/testing/fake-operations-service';
import { QuotaLedger } from '../quotas/quota-ledger';
import { FakeQuotaRepository } from '../quotas/testing/fake-quota-repository';
import { FakeVmRepository, vmRow } from '../vms/testing/fake-vm-repository';
import { Vm } from '../vms/vm.entity';
import { VmStateWriter } from '../vms/vm-state-writer';
import { VmAccess } from '../vms/vm-access';
import { Snapshot } from './snapshot.entity';
import { SnapshotsService } from './snapshots.service';
import { FakeSnapshotRepository } from './testing/fake-snapshot-repository';

const alice: AuthUser = { id: 'alice', username: 'alice', role: 'user' };
const bob: AuthUser = { id: 'bob', username: 'bob', role: 'user' };

function world(...vms: Vm[]) {
  const rows = new FakeVmRepository(...vms);
  const snapshots = new FakeSnapshotRepository();
  const published: NewEvent[] = [];
  const events = { publish: async (event: NewEvent) => void published.push(event) } as unknown as EventsService;
  const keys = new FakeIdempotencyKeyRepository();
  const transactions = new FakeTransactions(rows.rows, snapshots.rows, keys.rows);
  const operations = new FakeOperationsService(new IdempotencyService(keys.asRepository, transactions.asTransactions));
  transactions.track(operations.rows);
  const quotas = new FakeQuotaRepository(rows, snapshots);
  const config = {
    hypervisor: { vmDir: '/vms', vmPool: 'limen-vms', imagePool: 'limen-images' },
    defaultQuota: { vms: 3, vcpus: 4, memoryMiB: 2048, diskGiB: 10, snapshots: 2 },
  } as AppConfig;
  const ledger = new QuotaLedger(
    config,
    { quotaDenials: { inc: () => 0 } } as unknown as MetricsService,
    quotas.asRepository,
  );
  const port = new FakeVirtualizationPort();
  const handlers = new Map<string, OperationHandler>();
  /** Runs an operation the way the runner would, by its kind's handler, and marks it as the runner would. */
  const run = async (op: { id: string }) => {
    const operation = operations.rows.get(op.id) as Operation;
    try {
      const result = await handlers.get(operation.kind)!(operation);
      operations.finish(op.id);
      return result;
    } catch (error) {
      operations.finish(op.id, 'failed');
      throw error;
    }
  };
  const runner = {
    register: (kind: string, handler: OperationHandler) => handlers.set(kind, handler),
    // Operations run as soon as they are waited for.
    waitForEnd: async (id: string) => {
      await run({ id }).catch(() => undefined);
      return operations.rows.get(id);
    },
  };
  const stateWriter = new VmStateWriter(rows.asRepository, events);
  const disks = new FakeVmDiskRepository();
  const hostPorts = { forVm: () => port, host: () => undefined, localId: 'host-1' } as unknown as HostPorts;
  const service = new SnapshotsService(
    snapshots.asRepository,
    new HostStorage(config, hostPorts),
    hostPorts,
    new VmAccess(rows.asRepository),
    rows.asRepository,
    stateWriter,
    ledger,
    operations.asService,
    runner as unknown as OperationRunner,
    events,
    disks.asRepository,
  );
  service.onModuleInit();
  return { service, rows, snapshots, operations, ledger, port, published, run, disks };
}

/** A domain for `vm` on the fake hypervisor, with its boot disk in the VM pool, started if the VM runs. */
async function defineDomain(port: FakeVirtualizationPort, vm: Vm, disks?: FakeVmDiskRepository): Promise<void> {
  const name = `${vm.id}-disk.qcow2`;
  await port.ensureStoragePool({ name: 'limen-vms', type: 'dir', path: '/vms' });
  await port.createVolume({ pool: 'limen-vms', name, sizeBytes: vm.diskGiB * 1024 ** 3 });
  await disks?.add(
    {} as Tx,
    newVmDisk({ vmId: vm.id, position: 0, sizeGiB: vm.diskGiB }, () => name),
  );
  await port.defineDomain({
    vmId: vm.id,
    ownerId: vm.ownerId,
    vcpus: vm.vcpus,
    memoryMiB: vm.memoryMiB,
    disks: [{ path: `/vms/${name}` }],
    vnc: { enabled: true },
    serialLogPath: `/vms/${vm.id}-serial.log`,
  });
  if (vm.state === 'running') await port.start(vm.id);
}

function readySnapshot(vm: Vm, fields: Partial<Snapshot> = {}): Snapshot {
  return Object.assign(new Snapshot(), {
    id: `snap-${Math.random().toString(16).slice(2)}`,
    vmId: vm.id,
    ownerId: vm.ownerId,
    name: 'before-upgrade',
    description: '',
    state: 'ready',
    sizeMiB: 0,
    createdAt: new Date(),
    updatedAt: new Date(),
    ...fields,
  });
}

describe('SnapshotsService', () => {
  describe('create', () => {
    it('reserves a snapshot and, for a running VM, the RAM state it saves on the disk quota', async () => {
      const vm = vmRow({ state: 'running', memoryMiB: 256, runningMemoryMiB: 512, diskGiB: 1 });
      const { service, ledger, operations, snapshots } = world(vm);
      const accepted = await service.create(alice, vm.id, { name: 'before-upgrade' });
      expect(accepted.snapshot).toMatchObject({ vmId: vm.id, name: 'before-upgrade', state: 'creating' });
      expect(snapshots.rows.get(accepted.snapshot.id)!.sizeMiB).toBe(512);
      expect(operations.rows.get(accepted.operation.id)).toMatchObject({
        kind: 'snapshot.create',
        params: { snapshotId: accepted.snapshot.id },
      });
      expect(await ledger.usage('alice')).toMatchObject({ snapshots: 1, diskGiB: 1.5 });
    });

    it('refuses a second snapshot of that name on the VM (409 CONFLICT) and one over the quota (403)', async () => {
      const vm = vmRow({ state: 'stopped' });
      const { service, snapshots, operations } = world(vm);
      operations.finish((await service.create(alice, vm.id, { name: 'a' })).operation.id);
      await expect(service.create(alice, vm.id, { name: 'a' })).rejects.toMatchObject({
        status: 409,
        code: 'CONFLICT',
      });
      operations.finish((await service.create(alice, vm.id, { name: 'b' })).operation.id);
      await expect(service.create(alice, vm.id, { name: 'c' })).rejects.toMatchObject({
        status: 403,
        code: 'QUOTA_EXCEEDED',
        extra: { resource: 'snapshots' },
      });
      expect([...snapshots.rows.values()].map((s) => s.name)).toEqual(['a', 'b']);
    });

    it.each(['provisioning', 'deleting', 'missing', 'error'] as const)(
      'refuses a VM that is %s (409 INVALID_STATE)',
      async (state) => {
        const vm = vmRow({ state });
        const { service } = world(vm);
        await expect(service.create(alice, vm.id, { name: 'a' })).rejects.toMatchObject({ code: 'INVALID_STATE' });
      },
    );

    it('someone else’s VM is 404', async () => {
      const vm = vmRow();
      const { service } = world(vm);
      await expect(service.create(bob, vm.id, { name: 'a' })).rejects.toMatchObject({ status: 404 });
      await expect(service.list(bob, vm.id, { limit: 50 })).rejects.toMatchObject({ status: 404 });
    });

    it('once taken, the snapshot is ready and holds what the boot disk volume grew by, if more than reserved', async () => {
      const vm = vmRow({ state: 'running', memoryMiB: 256 });
      const { service, port, snapshots, published, run, disks } = world(vm);
      // The guest runs with more memory than the row says: its RAM state outgrows the reservation.
      await defineDomain(port, Object.assign(new Vm(), vm, { memoryMiB: 512 }), disks);
      const accepted = await service.create(alice, vm.id, { name: 'live' });
      expect(snapshots.rows.get(accepted.snapshot.id)!.sizeMiB).toBe(256);
      await run(accepted.operation);
      expect(await port.listSnapshots(vm.id)).toEqual([expect.objectContaining({ name: 'live' })]);
      const taken = snapshots.rows.get(accepted.snapshot.id)!;
      expect(taken.state).toBe('ready');
      expect(taken.sizeMiB).toBe(512);
      expect(published.map((e) => e.type)).toEqual(['snapshot.created']);
    });

    it('of a VM made before storage pools (its disk is no pool volume) holds what was reserved', async () => {
      const vm = vmRow({ state: 'running', memoryMiB: 256 });
      const { service, port, snapshots, run, disks } = world(vm);
      await defineDomain(port, Object.assign(new Vm(), vm, { memoryMiB: 512 }));
      await disks.add(
        {} as Tx,
        newVmDisk({ vmId: vm.id, position: 0, sizeGiB: 1 }, () => `${vm.id}/disk.qcow2`),
      );
      const accepted = await service.create(alice, vm.id, { name: 'legacy' });
      await run(accepted.operation);
      expect(snapshots.rows.get(accepted.snapshot.id)).toMatchObject({ state: 'ready', sizeMiB: 256 });
    });

    it('freezes the guest’s filesystems around the snapshot when its agent is connected, and thaws them on failure too', async () => {
      const vm = vmRow({ state: 'running', guestAgent: 'connected' });
      const { service, port, run, operations, disks } = world(vm);
      await defineDomain(port, vm, disks);
      port.setGuestAgent(vm.id, { filesystems: 2 });
      const accepted = await service.create(alice, vm.id, { name: 'frozen' });
      await run(accepted.operation);
      const methods = port.calls.map((c) => c.method);
      const at = (m: string) => methods.indexOf(m as (typeof methods)[number]);
      expect(at('freezeFilesystems')).toBeGreaterThan(-1);
      expect(at('freezeFilesystems')).toBeLessThan(at('createSnapshot'));
      expect(at('thawFilesystems')).toBeGreaterThan(at('createSnapshot'));
      expect(port.frozenFilesystems(vm.id)).toBe(0);
      operations.finish(accepted.operation.id);

      port.failNext('createSnapshot');
      const failing = await service.create(alice, vm.id, { name: 'fails' });
      await expect(run(failing.operation)).rejects.toMatchObject({ code: 'OPERATION_FAILED' });
      expect(port.frozenFilesystems(vm.id)).toBe(0);
      operations.finish(failing.operation.id);

      // The agent went away since the row said connected: the snapshot is taken without a freeze.
      port.setGuestAgent(vm.id, null);
      const unfrozen = await service.create(alice, vm.id, { name: 'no-agent' });
      await run(unfrozen.operation);
      expect(await port.listSnapshots(vm.id)).toHaveLength(2);
    });

    it('a snapshot the hypervisor refuses is removed, and with it the quota it held', async () => {
      const vm = vmRow({ state: 'running' });
      const { service, snapshots, ledger, run } = world(vm);
      const accepted = await service.create(alice, vm.id, { name: 'doomed' });
      await expect(run(accepted.operation)).rejects.toMatchObject({ code: 'DOMAIN_NOT_FOUND' });
      expect(snapshots.rows.size).toBe(0);
      expect((await ledger.usage('alice')).snapshots).toBe(0);
    });
  });

  describe('revert and delete', () => {
    it('need a ready snapshot of that VM: 404 for another VM’s, 409 INVALID_STATE while it is being taken', async () => {
      const vm = vmRow();
      const other = vmRow({ name: 'other' });
      const { service, snapshots } = world(vm, other);
      const creating = readySnapshot(vm, { state: 'creating' });
      const elsewhere = readySnapshot(other);
      snapshots.rows.set(creating.id, creating).set(elsewhere.id, elsewhere);
      await expect(service.revert(alice, vm.id, creating.id)).rejects.toMatchObject({ code: 'INVALID_STATE' });
      await expect(service.remove(alice, vm.id, elsewhere.id)).rejects.toMatchObject({ status: 404 });
    });

    it('delete marks the snapshot deleting at once, and its operation removes it from the hypervisor and the table', async () => {
      const vm = vmRow({ state: 'stopped' });
      const { service, snapshots, port, published, run, disks } = world(vm);
      await defineDomain(port, vm, disks);
      await port.createSnapshot(vm.id, { name: 'old' });
      const snapshot = readySnapshot(vm, { name: 'old' });
      snapshots.rows.set(snapshot.id, snapshot);
      const accepted = await service.remove(alice, vm.id, snapshot.id);
      expect(accepted.snapshot.state).toBe('deleting');
      expect(snapshots.rows.get(snapshot.id)!.state).toBe('deleting');
      await run(accepted.operation);
      expect(snapshots.rows.size).toBe(0);
      expect(await port.listSnapshots(vm.id)).toEqual([]);
      expect(published.map((e) => e.type)).toEqual(['snapshot.deleted']);
    });

    it('a revert writes the state the domain came back in through the one state writer (vm.state with the version)', async () => {
      const vm = vmRow({ state: 'stopped', version: 2 });
      const { service, snapshots, port, rows, published, run, disks } = world(vm);
      await defineDomain(port, vm, disks);
      await port.createSnapshot(vm.id, { name: 'cold' });
      const snapshot = readySnapshot(vm, { name: 'cold' });
      snapshots.rows.set(snapshot.id, snapshot);
      await port.start(vm.id);
      await rows.writeState(vm.id, { state: 'running' });
      const accepted = await service.revert(alice, vm.id, snapshot.id);
      expect(await run(accepted.operation)).toEqual({ snapshotId: snapshot.id, state: 'stopped' });
      expect(rows.rows.get(vm.id)).toMatchObject({ state: 'stopped', version: 4 });
      expect(published).toContainEqual(
        expect.objectContaining({
          type: 'vm.state',
          payload: expect.objectContaining({ state: 'stopped', version: 4 }),
        }),
      );
      expect(published.at(-1)!.type).toBe('snapshot.reverted');
    });
  });

  describe('schedules', () => {
    const schedule = { id: 'schedule-1', vmId: '', ownerId: 'alice' };

    it("takes the slot's snapshot as the schedule's owner: named after the slot in UTC, marked with the schedule, quota-checked", async () => {
      const vm = vmRow({ state: 'stopped' });
      const { service, operations, snapshots, ledger } = world(vm);
      const slot = new Date('2026-12-07T03:04:05.678Z');
      const accepted = await service.createForSchedule({ ...schedule, vmId: vm.id }, slot);
      expect(accepted.snapshot).toMatchObject({ name: 'auto-20261207-030405', state: 'creating' });
      expect(snapshots.rows.get(accepted.snapshot.id)).toMatchObject({ scheduleId: 'schedule-1', ownerId: 'alice' });
      expect(operations.rows.get(accepted.operation.id)).toMatchObject({ kind: 'snapshot.create', ownerId: 'alice' });
      expect(await ledger.usage('alice')).toMatchObject({ snapshots: 1 });
      expect((await service.ofSchedule('schedule-1')).map((s) => s.id)).toEqual([accepted.snapshot.id]);
      operations.finish(accepted.operation.id);
      // Another schedule of the VM in the same slot: the name gets that schedule's id.
      const other = await service.createForSchedule({ id: '9f3c2a1b-other', vmId: vm.id, ownerId: 'alice' }, slot);
      expect(other.snapshot.name).toBe('auto-20261207-030405-9f3c2a1b');
      operations.finish(other.operation.id);
      snapshots.rows.delete(other.snapshot.id); // as if its creation failed: back to one snapshot held
      // Quota 2: a third scheduled snapshot is refused like a request would be.
      operations.finish(
        (await service.createForSchedule({ ...schedule, vmId: vm.id }, new Date(slot.getTime() + 60_000))).operation.id,
      );
      await expect(
        service.createForSchedule({ ...schedule, vmId: vm.id }, new Date(slot.getTime() + 120_000)),
      ).rejects.toMatchObject({ status: 403, code: 'QUOTA_EXCEEDED' });
    });

    it("refuses when the VM is no longer its owner's (404) or cannot be snapshotted now (409)", async () => {
      const vm = vmRow({ state: 'stopped' });
      const busy = vmRow({ state: 'deleting' });
      const { service } = world(vm, busy);
      await expect(
        service.createForSchedule({ ...schedule, vmId: vm.id, ownerId: bob.id }, new Date()),
      ).rejects.toMatchObject({ status: 404 });
      await expect(service.createForSchedule({ ...schedule, vmId: busy.id }, new Date())).rejects.toMatchObject({
        status: 409,
        code: 'INVALID_STATE',
      });
    });

    it("removes one of the schedule's snapshots by a snapshot.delete and waits for it; never another's", async () => {
      const vm = vmRow({ state: 'stopped' });
      const { service, snapshots, port, disks, operations } = world(vm);
      await defineDomain(port, vm, disks);
      await port.createSnapshot(vm.id, { name: 'auto-1' });
      const mine = readySnapshot(vm, { name: 'auto-1', scheduleId: 'schedule-1' });
      const other = readySnapshot(vm, { name: 'by-hand', scheduleId: null });
      snapshots.rows.set(mine.id, mine);
      snapshots.rows.set(other.id, other);
      await service.removeForSchedule({ ...schedule, vmId: vm.id }, mine.id, 1000);
      expect([...snapshots.rows.keys()]).toEqual([other.id]);
      expect([...operations.rows.values()].map((op) => [op.kind, op.status])).toEqual([
        ['snapshot.delete', 'succeeded'],
      ]);
      await expect(service.removeForSchedule({ ...schedule, vmId: vm.id }, other.id, 1000)).rejects.toMatchObject({
        status: 404,
      });
      expect(snapshots.rows.get(other.id)!.state).toBe('ready');
    });
  });
});
