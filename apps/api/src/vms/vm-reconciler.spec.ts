import { Logger } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { HypervisorError } from '@limen/libvirt';
import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { EMPTY } from 'rxjs';
import { AuditService } from '../audit/audit.service';
import { NewAuditEntry } from '../audit/audit.repository';
import { AppConfig } from '../config/app-config';
import { LeaderElection } from '../database/leader-election';
import { LeaderJobs } from '../database/leader-jobs';
import { FakeTransactions } from '../database/testing/fake-transactions';
import { EventsService, NewEvent } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { MetricsService } from '../metrics/metrics.service';
import { FakeIdempotencyKeyRepository } from '../idempotency/testing/fake-idempotency-key-repository';
import { FakeOperationsService } from '../operations/testing/fake-operations-service';
import { OperationHandler, OperationRunner, operationErrorFrom } from '../operations/operation-runner';
import { FakeVmRepository, vmRow } from './testing/fake-vm-repository';
import { Vm } from './vm.entity';
import { VmAutostart } from './vm-autostart';
import { VmReconciler } from './vm-reconciler';
import { VmEventFollower } from './vm-event-follower';
import { VmStateWriter } from './vm-state-writer';

const VM_DIR = '/var/lib/limen/vms';

/**
 * A domain for `vm` with its disk and serial log as volumes of a pool over `vmDir`, or (`legacy`)
 * in a folder of its own under it as before pools; started when `running`.
 */
async function defineDomain(
  port: FakeVirtualizationPort,
  vm: Vm,
  running: boolean,
  vmDir = VM_DIR,
  legacy = false,
): Promise<string> {
  const disk = legacy ? `${vmDir}/${vm.id}/disk.qcow2` : `${vmDir}/${vm.id}-disk.qcow2`;
  if (legacy) port.files.put(disk, { format: 'qcow2' });
  else {
    const pool = vmDir === VM_DIR ? 'limen-vms' : 'limen-other';
    await port.ensureStoragePool({ name: pool, type: 'dir', path: vmDir });
    await port.createVolume({ pool, name: `${vm.id}-disk.qcow2`, sizeBytes: vm.diskGiB * 1024 ** 3 });
  }
  await port.defineDomain({
    vmId: vm.id,
    ownerId: vm.ownerId,
    vcpus: vm.vcpus,
    memoryMiB: vm.memoryMiB,
    disks: [{ path: disk }],
    vnc: { enabled: true },
    serialLogPath: legacy ? `${vmDir}/${vm.id}/serial.log` : `${vmDir}/${vm.id}-serial.log`,
  });
  if (running) await port.start(vm.id);
  return disk;
}

function world(options: { leader?: boolean; maxAttempts?: number } = {}, ...vms: Vm[]) {
  const rows = new FakeVmRepository(...vms);
  const published: NewEvent[] = [];
  const events = { publish: async (event: NewEvent) => void published.push(event) } as unknown as EventsService;
  const keys = new FakeIdempotencyKeyRepository();
  const transactions = new FakeTransactions(rows.rows, keys.rows);
  const operations = new FakeOperationsService(new IdempotencyService(keys.asRepository, transactions.asTransactions));
  const port = new FakeVirtualizationPort();
  const hostPorts = {
    enabled: () => [{ host: { id: 'host-1', name: 'local' }, port }],
    forVm: () => port,
    host: () => undefined,
    localId: 'host-1',
  } as unknown as HostPorts;
  const scheduler = { addInterval: () => undefined } as unknown as SchedulerRegistry;
  const jobs = new LeaderJobs(scheduler, { isLeader: options.leader ?? true } as LeaderElection);
  const config = {
    hypervisor: { vmDir: VM_DIR, vmPool: 'limen-vms', imagePool: 'limen-images' },
    reconcileIntervalSeconds: 30,
    autostart: { backoffSeconds: 30, maxAttempts: options.maxAttempts ?? 3 },
    alerting: { evalIntervalSeconds: 20 },
  } as AppConfig;
  const stateWriter = new VmStateWriter(rows.asRepository, events);
  const handlers = new Map<string, OperationHandler>();
  const runner = { register: (kind: string, handler: OperationHandler) => handlers.set(kind, handler) };
  const audited: NewAuditEntry[] = [];
  const autostart = new VmAutostart(
    config,
    hostPorts,
    runner as unknown as OperationRunner,
    operations.asService,
    rows.asRepository,
    stateWriter,
    events,
    { record: async (entry: NewAuditEntry) => void audited.push(entry) } as unknown as AuditService,
  );
  autostart.onModuleInit();
  const reconciler = new VmReconciler(
    config,
    hostPorts,
    new HostStorage(config, hostPorts),
    rows.asRepository,
    stateWriter,
    operations.asService,
    jobs,
    autostart,
  );
  /** Runs the pending operations as the runner would, each by its kind's handler; returns their outcomes. */
  const runOperations = async () => {
    const outcomes: Array<{ kind: string; vmId: string | null; error?: string }> = [];
    for (const op of [...operations.rows.values()].filter((o) => o.status === 'pending')) {
      const error = await handlers.get(op.kind)!(op).then(
        () => undefined,
        (e: unknown) => operationErrorFrom(e).code,
      );
      operations.finish(op.id, error ? 'failed' : 'succeeded');
      outcomes.push({ kind: op.kind, vmId: op.vmId, ...(error ? { error } : {}) });
    }
    return outcomes;
  };
  return { reconciler, rows, port, published, operations, runOperations, audited, stateWriter };
}

/** A VM whose owner wants it running, with autostart on. */
const wantedRunning = (fields: Partial<Vm> = {}) =>
  vmRow({ state: 'running', autostart: true, desiredState: 'running', ...fields });

const SECOND = 1000;

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

  it("removes an orphan domain only when its disk is the installation's: in the host's VM pool, or under VM_DIR as before pools", async () => {
    const known = vmRow({ name: 'known', state: 'running' });
    const { reconciler, port } = world({}, known);
    await defineDomain(port, known, true);
    const orphan = vmRow({ name: 'orphan' });
    const orphanDisk = await defineDomain(port, orphan, true);
    const legacy = vmRow({ name: 'legacy' });
    const legacyDisk = await defineDomain(port, legacy, false, VM_DIR, true);
    const foreign = vmRow({ name: 'foreign' });
    await defineDomain(port, foreign, true, '/srv/other-limen/vms');

    expect(await reconciler.sweep()).toBe(true);

    const left = (await port.listDomains()).map((d) => d.vmId);
    expect(left).toEqual(expect.arrayContaining([known.id, foreign.id]));
    expect(left).not.toContain(orphan.id);
    expect(left).not.toContain(legacy.id);
    expect(port.files.file(orphanDisk)).toBeUndefined();
    expect(port.files.file(legacyDisk)).toBeUndefined();
    expect(port.files.file(`${VM_DIR}/${orphan.id}-serial.log`)).toBeUndefined();
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

describe('VmReconciler.sweep: autostart', () => {
  const T0 = new Date('2026-12-01T00:00:00.000Z').getTime();
  /** Database time passes (FakeVmRepository's clock and its updated_at stamps); nothing else is faked. */
  const advance = (seconds: number) => jest.setSystemTime(Date.now() + seconds * SECOND);
  const at = (seconds: number) => new Date(T0 + seconds * SECOND);
  const autostarts = (ops: FakeOperationsService) => [...ops.rows.values()].filter((o) => o.kind === 'vm.autostart');

  beforeAll(() => Logger.overrideLogger(false));
  beforeEach(() =>
    jest.useFakeTimers({
      now: T0,
      doNotFake: [
        'hrtime',
        'nextTick',
        'performance',
        'queueMicrotask',
        'setImmediate',
        'clearImmediate',
        'setInterval',
        'clearInterval',
        'setTimeout',
        'clearTimeout',
      ],
    }),
  );
  afterEach(() => jest.useRealTimers());

  it('starts, within one sweep, a VM found shut off while wanted running (one vm.autostart, audited); not one with autostart off, wanted stopped, or owned by an operation', async () => {
    const down = wantedRunning({ name: 'down' });
    const off = wantedRunning({ name: 'off', autostart: false });
    const stopped = wantedRunning({ name: 'stopped', desiredState: 'stopped' });
    const busy = wantedRunning({ name: 'busy' });
    const { reconciler, rows, port, operations, runOperations, published, audited } = world(
      {},
      down,
      off,
      stopped,
      busy,
    );
    // The host went down under all four: every domain is shut off.
    for (const vm of [down, off, stopped, busy]) {
      await defineDomain(port, vm, true);
      await port.destroy(vm.id);
    }
    rows.activeOperations.add(busy.id);

    expect(await reconciler.sweep()).toBe(true);

    expect(autostarts(operations).map((op) => op.vmId)).toEqual([down.id]);
    expect(await runOperations()).toEqual([{ kind: 'vm.autostart', vmId: down.id }]);
    expect((await port.getDomain(down.id)).state).toBe('running');
    expect(rows.rows.get(down.id)).toMatchObject({
      state: 'running',
      startAttempts: 1,
      nextStartAt: at(30),
      lastStartError: null,
    });
    for (const vm of [off, stopped, busy]) expect((await port.getDomain(vm.id)).state).toBe('shutoff');
    expect(rows.rows.get(off.id)).toMatchObject({ state: 'stopped', startAttempts: 0 });
    expect(rows.rows.get(stopped.id)).toMatchObject({ state: 'stopped', startAttempts: 0 });
    expect(audited).toEqual([
      expect.objectContaining({ action: 'vms.autostart', targetId: down.id, result: 'success', actorId: null }),
    ]);
    expect(published).toContainEqual(
      expect.objectContaining({
        type: 'vm.state',
        vmId: down.id,
        payload: expect.objectContaining({ state: 'running' }),
      }),
    );

    // Sweeps while it runs within its backoff window leave its record alone.
    advance(10);
    await reconciler.sweep();
    expect(autostarts(operations)).toHaveLength(1);
    expect(rows.rows.get(down.id)).toMatchObject({ startAttempts: 1, nextStartAt: at(30) });
  });

  it('starts nothing with AUTOSTART_MAX_ATTEMPTS 0', async () => {
    const down = wantedRunning();
    const { reconciler, port, operations } = world({ maxAttempts: 0 }, down);
    await defineDomain(port, down, false);
    expect(await reconciler.sweep()).toBe(true);
    expect(operations.rows.size).toBe(0);
  });

  it('backs off a VM whose start keeps failing: each attempt recorded, the wait doubling, no operation or write while it waits, and after the last attempt it gives up and says so', async () => {
    const failing = wantedRunning({ name: 'failing' });
    const { reconciler, rows, port, operations, runOperations, audited } = world({ maxAttempts: 3 }, failing);
    await defineDomain(port, failing, false);
    const row = () => rows.rows.get(failing.id)!;
    const sweepWithFailingStart = async () => {
      port.failNext('start', new HypervisorError('VOLUME_NOT_FOUND', "Cannot access storage file '/gone.qcow2'"));
      expect(await reconciler.sweep()).toBe(true);
      expect(await runOperations()).toEqual([{ kind: 'vm.autostart', vmId: failing.id, error: 'VOLUME_NOT_FOUND' }]);
    };
    const lastError = 'VOLUME_NOT_FOUND: A disk or image file the VM needs is missing on its host';

    await sweepWithFailingStart();
    expect(row()).toMatchObject({ state: 'stopped', startAttempts: 1, nextStartAt: at(30), lastStartError: lastError });
    expect(row().stateReason).toBeNull();

    let version = row().version;
    advance(29);
    await reconciler.sweep();
    expect(autostarts(operations)).toHaveLength(1);
    expect(row().version).toBe(version);

    advance(1);
    await sweepWithFailingStart();
    expect(row()).toMatchObject({ startAttempts: 2, nextStartAt: at(30 + 60) });
    advance(59);
    await reconciler.sweep();
    expect(autostarts(operations)).toHaveLength(2);

    advance(1);
    await sweepWithFailingStart();
    expect(row()).toMatchObject({ state: 'stopped', startAttempts: 3, nextStartAt: at(90 + 120) });
    expect(row().stateReason).toBe(
      `autostart gave up after 3 attempts in a row that did not keep the VM running (last error: ${lastError}); start it to try again`,
    );

    // Given up: hours of sweeps make no operation, and keep the reason without rewriting it.
    version = row().version;
    for (let i = 0; i < 5; i++) {
      advance(3600);
      await reconciler.sweep();
    }
    expect(autostarts(operations)).toHaveLength(3);
    expect(row().version).toBe(version);
    expect(audited.map((entry) => [entry.result, entry.errorCode])).toEqual([
      ['failure', 'VOLUME_NOT_FOUND'],
      ['failure', 'VOLUME_NOT_FOUND'],
      ['failure', 'VOLUME_NOT_FOUND'],
    ]);
  });

  it('holds a crashed VM one alert evaluation interval, then starts it; one that crashes again within its backoff waits it out; one that runs past it starts afresh', async () => {
    const vm = wantedRunning({ name: 'crashy' });
    const { reconciler, rows, port, operations, runOperations, published } = world({}, vm);
    await defineDomain(port, vm, true);
    const row = () => rows.rows.get(vm.id)!;

    port.crash(vm.id);
    await reconciler.sweep();
    expect(row().state).toBe('crashed');
    expect(autostarts(operations)).toHaveLength(0);
    advance(19);
    await reconciler.sweep();
    expect(autostarts(operations)).toHaveLength(0);

    advance(1);
    await reconciler.sweep();
    await runOperations();
    expect(row()).toMatchObject({ state: 'running', startAttempts: 1, nextStartAt: at(20 + 30) });

    // Down again 5 s later: the backoff of the attempt that brought it up holds it.
    advance(5);
    port.crash(vm.id);
    await reconciler.sweep();
    advance(24);
    await reconciler.sweep();
    expect(autostarts(operations)).toHaveLength(1);
    advance(1);
    await reconciler.sweep();
    await runOperations();
    expect(row()).toMatchObject({ state: 'running', startAttempts: 2, nextStartAt: at(50 + 60) });

    // Up for the whole of its backoff: the record starts afresh, and says so.
    advance(60);
    published.length = 0;
    await reconciler.sweep();
    expect(row()).toMatchObject({ startAttempts: 0, nextStartAt: null, lastStartError: null });
    expect(published).toContainEqual(
      expect.objectContaining({
        type: 'vm.updated',
        vmId: vm.id,
        payload: expect.objectContaining({ state: 'running' }),
      }),
    );
    expect(autostarts(operations)).toHaveLength(2);
  });

  it('a guest that powers itself off is wanted stopped, by the event or by the sweep, and stays off; a destroyed one is started', async () => {
    const poweredOff = wantedRunning({ name: 'powered-off' });
    const missedEvent = wantedRunning({ name: 'missed-event' });
    const destroyed = wantedRunning({ name: 'destroyed' });
    const { reconciler, rows, port, operations, runOperations, stateWriter } = world(
      {},
      poweredOff,
      missedEvent,
      destroyed,
    );
    for (const vm of [poweredOff, missedEvent, destroyed]) await defineDomain(port, vm, true);
    await port.shutdown(missedEvent.id);
    const follower = new VmEventFollower(
      { localPort: port, opened$: EMPTY } as unknown as HostPorts,
      stateWriter,
      reconciler,
      { eventStreamRestarts: { inc: () => undefined } } as unknown as MetricsService,
    );
    follower.onApplicationBootstrap();
    try {
      await port.shutdown(poweredOff.id);
      await port.destroy(destroyed.id);
      await new Promise((resolve) => setImmediate(resolve));
      expect(rows.rows.get(poweredOff.id)).toMatchObject({ state: 'stopped', desiredState: 'stopped' });
      expect(rows.rows.get(destroyed.id)).toMatchObject({ state: 'stopped', desiredState: 'running' });

      await reconciler.sweep();
      expect(rows.rows.get(missedEvent.id)).toMatchObject({ state: 'stopped', desiredState: 'stopped' });
      expect(autostarts(operations).map((op) => op.vmId)).toEqual([destroyed.id]);
      await runOperations();
      expect((await port.getDomain(destroyed.id)).state).toBe('running');
      expect((await port.getDomain(poweredOff.id)).state).toBe('shutoff');
    } finally {
      follower.onApplicationShutdown();
    }
  });
});
