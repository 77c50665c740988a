import { SchedulerRegistry } from '@nestjs/schedule';
import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { AppConfig } from '../config/app-config';
import { LeaderElection } from '../database/leader-election';
import { LeaderJobs } from '../database/leader-jobs';
import { FakeTransactions } from '../database/testing/fake-transactions';
import { EventsService, NewEvent } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { FakeIdempotencyKeyRepository } from '../idempotency/testing/fake-idempotency-key-repository';
import { FakeOperationsService } from '../operations/testing/fake-operations-service';
import { FakeVmRepository, vmRow } from './testing/fake-vm-repository';
import { Vm } from './vm.entity';
import { vmPaths } from './vm-paths';
import { VmReconciler } from './vm-reconciler';
import { VmStateWriter } from './vm-state-writer';

const VM_DIR = '/var/lib/limen/vms';

/** A domain for `vmId` with its disk under `vmDir`, started when `running`. */
async function defineDomain(port: FakeVirtualizationPort, vm: Vm, running: boolean, vmDir = VM_DIR): Promise<void> {
  const disk = vmPaths(vmDir, vm.id).disk;
  await port.createVolume({ path: disk, sizeBytes: vm.diskGiB * 1024 ** 3 });
  await port.defineDomain({
    vmId: vm.id,
    ownerId: vm.ownerId,
    vcpus: vm.vcpus,
    memoryMiB: vm.memoryMiB,
    disks: [{ path: disk }],
    vnc: { enabled: true },
    serialLogPath: vmPaths(vmDir, vm.id).serialLog,
  });
  if (running) await port.start(vm.id);
}

function world(options: { leader?: boolean } = {}, ...vms: Vm[]) {
  const rows = new FakeVmRepository(...vms);
  const published: NewEvent[] = [];
  const events = { publish: async (event: NewEvent) => void published.push(event) } as unknown as EventsService;
  const keys = new FakeIdempotencyKeyRepository();
  const transactions = new FakeTransactions(rows.rows, keys.rows);
  const operations = new FakeOperationsService(new IdempotencyService(keys.asRepository, transactions.asTransactions));
  const port = new FakeVirtualizationPort();
  const hostPorts = { enabled: () => [{ host: { id: 'host-1', name: 'local' }, port }] } as unknown as HostPorts;
  const scheduler = { addInterval: () => undefined } as unknown as SchedulerRegistry;
  const jobs = new LeaderJobs(scheduler, { isLeader: options.leader ?? true } as LeaderElection);
  const reconciler = new VmReconciler(
    { hypervisor: { vmDir: VM_DIR }, reconcileIntervalSeconds: 30 } as AppConfig,
    hostPorts,
    rows.asRepository,
    new VmStateWriter(rows.asRepository, events),
    operations.asService,
    jobs,
  );
  return { reconciler, rows, port, published, operations };
}

describe('VmReconciler.sweep', () => {
  it('marks a VM whose domain is gone missing, and gives the others their domain’s state', async () => {
    const gone = vmRow({ name: 'gone', state: 'running' });
    const stopped = vmRow({ name: 'stopped', state: 'running' });
    const running = vmRow({ name: 'running', state: 'stopped', vcpus: 2 });
    const { reconciler, rows, port, published } = world({}, gone, stopped, running);
    await defineDomain(port, stopped, false);
    await defineDomain(port, running, true);

    expect(await reconciler.sweep()).toBe(true);

    expect(rows.rows.get(gone.id)).toMatchObject({
      state: 'missing',
      stateReason: 'the domain no longer exists on the hypervisor',
      version: 2,
    });
    expect(rows.rows.get(stopped.id)).toMatchObject({ state: 'stopped', stateReason: null });
    expect(rows.rows.get(running.id)).toMatchObject({ state: 'running', runningVcpus: 2 });
    expect(published.map((e) => [e.type, e.vmId])).toEqual(
      expect.arrayContaining([
        ['vm.state', gone.id],
        ['vm.state', stopped.id],
        ['vm.state', running.id],
      ]),
    );
  });

  it('leaves VMs an operation owns alone: provisioning, deleting, or with an active operation', async () => {
    const provisioning = vmRow({ name: 'new', state: 'provisioning' });
    const deleting = vmRow({ name: 'going', state: 'deleting' });
    const busy = vmRow({ name: 'busy', state: 'stopped' });
    const { reconciler, rows, port, published, operations } = world({}, provisioning, deleting, busy);
    rows.activeOperations.add(deleting.id).add(busy.id);
    await defineDomain(port, busy, true);

    expect(await reconciler.sweep()).toBe(true);

    expect(rows.rows.get(provisioning.id)).toMatchObject({ state: 'provisioning', version: 1 });
    expect(rows.rows.get(deleting.id)).toMatchObject({ state: 'deleting', version: 1 });
    expect(rows.rows.get(busy.id)).toMatchObject({ state: 'stopped', version: 1 });
    expect(published).toEqual([]);
    expect(operations.rows.size).toBe(0);
  });

  it('removes an orphan domain only when its disk is under VM_DIR (another installation may share the hypervisor)', async () => {
    const known = vmRow({ name: 'known', state: 'running' });
    const { reconciler, port } = world({}, known);
    await defineDomain(port, known, true);
    const orphan = vmRow({ name: 'orphan' });
    await defineDomain(port, orphan, true);
    const foreign = vmRow({ name: 'foreign' });
    await defineDomain(port, foreign, true, '/srv/other-limen/vms');

    expect(await reconciler.sweep()).toBe(true);

    const left = (await port.listDomains()).map((d) => d.vmId);
    expect(left).toEqual(expect.arrayContaining([known.id, foreign.id]));
    expect(left).not.toContain(orphan.id);
    expect(port.files.file(vmPaths(VM_DIR, orphan.id).disk)).toBeUndefined();
  });

  it('asks again for a delete left half-done: a VM deleting with no operation gets a vm.delete', async () => {
    const stalled = vmRow({ name: 'stalled', state: 'deleting' });
    const { reconciler, operations } = world({}, stalled);

    expect(await reconciler.sweep()).toBe(true);

    expect([...operations.rows.values()]).toEqual([
      expect.objectContaining({ kind: 'vm.delete', vmId: stalled.id, ownerId: stalled.ownerId }),
    ]);
    expect(operations.submitted).toHaveLength(1);
  });

  it('only sweeps on the leader', async () => {
    const gone = vmRow({ state: 'running' });
    const { reconciler, rows } = world({ leader: false }, gone);
    expect(await reconciler.sweep()).toBe(false);
    expect(rows.rows.get(gone.id)!.state).toBe('running');
  });
});
