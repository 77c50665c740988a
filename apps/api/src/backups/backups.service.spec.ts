import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { diskVolumeName } from '@limen/libvirt';
import { AuthUser } from '../auth/decorators';
import { AppConfig } from '../config/app-config';
import { LeaderJobs } from '../database/leader-jobs';
import { FakeTransactions } from '../database/testing/fake-transactions';
import { Tx } from '../database/transaction';
import { FakeVmDiskRepository } from '../disks/testing/fake-vm-disk-repository';
import { newVmDisk } from '../disks/vm-disk-fields';
import { EventsService, NewEvent } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { FakeIdempotencyKeyRepository } from '../idempotency/testing/fake-idempotency-key-repository';
import { ImagesService } from '../images/images.service';
import { MetricsService } from '../metrics/metrics.service';
import { VmNetworking } from '../networks/vm-networking';
import { Operation } from '../operations/operation.entity';
import { OperationHandler, OperationRunner } from '../operations/operation-runner';
import { FakeOperationsService } from '../operations/testing/fake-operations-service';
import { QuotaLedger } from '../quotas/quota-ledger';
import { FakeQuotaRepository } from '../quotas/testing/fake-quota-repository';
import { Schedule } from '../schedules/schedule.entity';
import { ScheduleRunners } from '../schedules/schedule-runners';
import { FakeSnapshotRepository } from '../snapshots/testing/fake-snapshot-repository';
import { FakeVmRepository, vmRow } from '../vms/testing/fake-vm-repository';
import { Vm } from '../vms/vm.entity';
import { VmAccess } from '../vms/vm-access';
import { VmDefinitions } from '../vms/vm-definitions';
import { DiskFillContext, VmDiskSources } from '../vms/vm-disk-sources';
import { vmFiles } from '../vms/vm-files';
import { VmsFromSource } from '../vms/vms-from-source';
import { Backup } from './backup.entity';
import { BackupOperations, backupTempVolume } from './backup-operations';
import { BackupRestores, restoredDiskId } from './backup-restores';
import { BackupScheduleRunner } from './backup-schedule-runner';
import { BackupStore } from './backup-store';
import { BackupsService, byteRangeOf, defaultRestoreName } from './backups.service';
import { FakeBackupRepository } from './testing/fake-backup-repository';

const alice: AuthUser = { id: 'alice', username: 'alice', role: 'user' };
const bob: AuthUser = { id: 'bob', username: 'bob', role: 'user' };
const GIB = 1024 ** 3;
const POOL = 'limen-vms';

/** Bytes a user holds in backups, summed over the fake table as QuotaRepository sums the real one. */
class BackupBytes extends Map<string, number> {
  constructor(private readonly backups: FakeBackupRepository) {
    super();
  }
  override get(userId: string): number {
    return [...this.backups.rows.values()]
      .filter((b) => b.ownerId === userId && b.state !== 'failed')
      .reduce((total, b) => total + b.sizeBytes, 0);
  }
}

function world(...vms: Vm[]) {
  const backupDir = mkdtempSync(join(tmpdir(), 'limen-backups-spec-'));
  const rows = new FakeVmRepository(...vms);
  const backups = new FakeBackupRepository();
  const disks = new FakeVmDiskRepository();
  const snapshots = new FakeSnapshotRepository();
  const published: NewEvent[] = [];
  const events = { publish: async (event: NewEvent) => void published.push(event) } as unknown as EventsService;
  const keys = new FakeIdempotencyKeyRepository();
  const transactions = new FakeTransactions(rows.rows, backups.rows, keys.rows, disks.rows, snapshots.rows);
  const operations = new FakeOperationsService(new IdempotencyService(keys.asRepository, transactions.asTransactions));
  transactions.track(operations.rows);
  const quotas = new FakeQuotaRepository(rows, snapshots);
  Object.assign(quotas, { backupBytesByUser: new BackupBytes(backups) });
  const config = {
    hypervisor: { vmDir: '/vms', vmPool: POOL, imagePool: 'limen-images' },
    defaultQuota: { vms: 3, vcpus: 4, memoryMiB: 2048, diskGiB: 10, snapshots: 2, backupGiB: 1 },
    copies: { backupDir },
  } as unknown as AppConfig;
  const ledger = new QuotaLedger(
    config,
    { quotaDenials: { inc: () => 0 } } as unknown as MetricsService,
    quotas.asRepository,
  );
  const port = new FakeVirtualizationPort();
  const handlers = new Map<string, OperationHandler>();
  const runner = { register: (kind: string, handler: OperationHandler) => handlers.set(kind, handler) };
  const hostPorts = { forVm: () => port, host: () => undefined, localId: 'host-1' } as unknown as HostPorts;
  const storage = new HostStorage(config, hostPorts);
  const store = new BackupStore(config);
  const image = { id: 'image-1', kind: 'kernel', name: 'tiny' };
  const images = {
    get: async (id: string) => (id === image.id ? image : Promise.reject(new Error('gone'))),
  } as unknown as ImagesService;
  const createdFromSource: unknown[] = [];
  const fromSource = {
    createIn: async (_tx: Tx, owner: AuthUser, plan: unknown) => {
      createdFromSource.push(plan);
      const vm = vmRow({ id: randomUUID(), ownerId: owner.id, name: (plan as { name: string }).name });
      const op = await operations.create({} as Tx, {
        kind: 'vm.create',
        ownerId: owner.id,
        vmId: vm.id,
        params: { start: true, cloudInit: null },
      });
      return { vm, op, events: [] };
    },
  } as unknown as VmsFromSource;
  // The definition as the rows say it: only its disks matter here.
  const definitions = {
    redefine: async (vm: Vm, rowsNow?: Awaited<ReturnType<FakeVmDiskRepository['ofVm']>>) => {
      const files = vmFiles(vm.id, rowsNow ?? (await disks.ofVm(vm.id)), '/vms', '/vms');
      return port.redefineDomain({
        vmId: vm.id,
        ownerId: vm.ownerId,
        vcpus: vm.vcpus,
        memoryMiB: vm.memoryMiB,
        disks: files.disks,
        vnc: { enabled: true },
        serialLogPath: files.serialLogPath,
      });
    },
  } as unknown as VmDefinitions;
  const networking = { nicsWithNetworks: async () => [] } as unknown as VmNetworking;
  const service = new BackupsService(
    backups.asRepository,
    store,
    new VmAccess(rows.asRepository),
    rows.asRepository,
    fromSource,
    disks.asRepository,
    images,
    hostPorts,
    storage,
    ledger,
    operations.asService,
    events,
  );
  const diskSources = new VmDiskSources();
  const ops = new BackupOperations(
    backups.asRepository,
    service,
    store,
    runner as unknown as OperationRunner,
    rows.asRepository,
    disks.asRepository,
    networking,
    hostPorts,
    storage,
    events,
    { every: () => undefined } as unknown as LeaderJobs,
  );
  new BackupRestores(
    backups.asRepository,
    store,
    runner as unknown as OperationRunner,
    diskSources,
    rows.asRepository,
    disks.asRepository,
    snapshots.asRepository,
    definitions,
    hostPorts,
    storage,
    transactions.asTransactions,
    events,
  ).onModuleInit();
  ops.onModuleInit();
  const runners = new ScheduleRunners();
  new BackupScheduleRunner(runners, service, backups.asRepository).onModuleInit();
  /** Runs the operation the way the runner would, by its kind's handler, and ends it as the runner would. */
  const run = async (op: { id: string }) => {
    const operation = operations.rows.get(op.id) as Operation;
    try {
      return await handlers.get(operation.kind)!(operation);
    } finally {
      operations.finish(op.id);
    }
  };
  const cleanup = () => rmSync(backupDir, { recursive: true, force: true });
  return {
    service,
    ops,
    rows,
    backups,
    disks,
    snapshots,
    operations,
    ledger,
    quotas,
    port,
    published,
    run,
    store,
    backupDir,
    cleanup,
    diskSources,
    createdFromSource,
    runners,
  };
}

type World = ReturnType<typeof world>;

/** The VM's domain on the fake hypervisor with `count` disks in the VM pool, each holding `data`; started if the VM runs. */
async function defineDomain(w: World, vm: Vm, count = 1, data = 'guest data'): Promise<void> {
  await w.port.ensureStoragePool({ name: POOL, type: 'dir', path: '/vms' });
  for (let position = 0; position < count; position++) {
    const disk = newVmDisk({ vmId: vm.id, position, sizeGiB: 1, bootIndex: position === 0 ? 1 : null }, (id) =>
      diskVolumeName(vm.id, id),
    );
    await w.port.createVolume({ pool: POOL, name: disk.volume, sizeBytes: GIB });
    (w.port as unknown as { files: { write(path: string, data: Buffer): void } }).files.write(
      `/vms/${disk.volume}`,
      Buffer.from(`${data} ${position}`),
    );
    await w.disks.add({} as Tx, disk);
  }
  const files = vmFiles(vm.id, await w.disks.ofVm(vm.id), '/vms', '/vms');
  await w.port.defineDomain({
    vmId: vm.id,
    ownerId: vm.ownerId,
    vcpus: vm.vcpus,
    memoryMiB: vm.memoryMiB,
    disks: files.disks,
    vnc: { enabled: true },
    serialLogPath: files.serialLogPath,
  });
  if (vm.state === 'running') await w.port.start(vm.id);
  if (vm.guestAgent === 'connected') w.port.setGuestAgent(vm.id);
}

/** Takes a backup of `vm` through the service and its operation. */
async function backUp(w: World, vm: Vm): Promise<Backup> {
  const accepted = await w.service.create(alice, vm.id);
  await w.run(accepted.operation);
  return (await w.backups.find(accepted.backup.id))!;
}

function flipByte(path: string, offset = 10): void {
  const fd = openSync(path, 'r+');
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, offset);
  byte[0] ^= 0xff;
  writeSync(fd, byte, 0, 1, offset);
  closeSync(fd);
}

describe('BackupsService and BackupOperations', () => {
  let w: World;
  afterEach(() => w?.cleanup());

  describe('create', () => {
    it('backs up a stopped VM: every disk exported compressed, checksummed, written atomically, the quota measured', async () => {
      const vm = vmRow({ id: randomUUID(), state: 'stopped' });
      w = world(vm);
      await defineDomain(w, vm, 2);
      const accepted = await w.service.create(alice, vm.id);
      expect(accepted.backup).toMatchObject({ vmId: vm.id, vmName: 'web-1', state: 'creating', consistency: null });
      expect(w.operations.rows.get(accepted.operation.id)).toMatchObject({
        kind: 'backup.create',
        params: { backupId: accepted.backup.id },
      });
      // Reserved: what the disks hold now.
      expect(accepted.backup.sizeBytes).toBeGreaterThan(0);
      await w.run(accepted.operation);
      const backup = (await w.backups.find(accepted.backup.id))!;
      expect(backup).toMatchObject({ state: 'ready', consistency: 'filesystem' });
      expect(readdirSync(w.backupDir)).toEqual([backup.id]);
      expect(readdirSync(join(w.backupDir, backup.id)).sort()).toEqual([
        'disk-0.qcow2',
        'disk-1.qcow2',
        'manifest.json',
      ]);
      const manifest = JSON.parse(readFileSync(join(w.backupDir, backup.id, 'manifest.json'), 'utf8'));
      expect(manifest).toEqual(backup.manifest);
      expect(manifest.disks.map((d: { position: number }) => d.position)).toEqual([0, 1]);
      for (const disk of manifest.disks) {
        expect(disk.sha256).toBe(await w.store.sha256(join(w.backupDir, backup.id, disk.file)));
        expect(disk.virtualSizeBytes).toBe(GIB);
      }
      expect(backup.sizeBytes).toBe(manifest.disks.reduce((t: number, d: { sizeBytes: number }) => t + d.sizeBytes, 0));
      const calls = w.port.calls.map((c) => c.method);
      expect(calls).not.toContain('beginDiskBackup');
      expect(calls).not.toContain('freezeFilesystems');
      expect(w.published.find((e) => e.type === 'backup.created')).toMatchObject({
        payload: { id: backup.id, state: 'ready' },
      });
    });

    it('a running VM with its agent: frozen only until the disk backup has begun, then thawed, waited, exported; temporaries deleted', async () => {
      const vm = vmRow({ id: randomUUID(), state: 'running', guestAgent: 'connected' });
      w = world(vm);
      await defineDomain(w, vm);
      const backup = await backUp(w, vm);
      expect(backup).toMatchObject({ state: 'ready', consistency: 'filesystem' });
      const order = w.port.calls
        .map((c) => c.method)
        .filter((m) =>
          ['freezeFilesystems', 'beginDiskBackup', 'thawFilesystems', 'waitDiskBackup', 'exportVolume'].includes(m),
        );
      // The clean-up of an earlier attempt thaws first; then the short freeze window.
      expect(order).toEqual([
        'thawFilesystems',
        'freezeFilesystems',
        'beginDiskBackup',
        'thawFilesystems',
        'waitDiskBackup',
        'exportVolume',
      ]);
      const [disk] = await w.disks.ofVm(vm.id);
      await expect(
        w.port.getVolume({ pool: POOL, name: backupTempVolume(vm.id, backup.id, disk.id) }),
      ).rejects.toMatchObject({
        code: 'VOLUME_NOT_FOUND',
      });
    });

    it('a running VM without an agent is backed up crash-consistent', async () => {
      const vm = vmRow({ id: randomUUID(), state: 'running', guestAgent: 'absent' });
      w = world(vm);
      await defineDomain(w, vm);
      const backup = await backUp(w, vm);
      expect(backup).toMatchObject({ state: 'ready', consistency: 'crash' });
      expect(w.port.calls.map((c) => c.method)).not.toContain('freezeFilesystems');
    });

    it('a failed disk backup leaves nothing: the guest thawed, temporaries, partial folder and row gone (quota released)', async () => {
      const vm = vmRow({ id: randomUUID(), state: 'running', guestAgent: 'connected' });
      w = world(vm);
      await defineDomain(w, vm);
      w.port.failNext('waitDiskBackup');
      const accepted = await w.service.create(alice, vm.id);
      await expect(w.run(accepted.operation)).rejects.toMatchObject({ code: 'OPERATION_FAILED' });
      expect(w.backups.rows.size).toBe(0);
      expect(readdirSync(w.backupDir)).toEqual([]);
      const freezes = w.port.calls.filter((c) => c.method === 'freezeFilesystems').length;
      const thaws = w.port.calls.filter((c) => c.method === 'thawFilesystems').length;
      expect(thaws).toBeGreaterThan(freezes);
      expect((await w.ledger.usage('alice')).backupGiB).toBe(0);
    });

    it("refuses a VM in another state (409), beyond backupGiB (403), and another user's VM (404)", async () => {
      const vm = vmRow({ id: randomUUID(), state: 'stopped' });
      const busy = vmRow({ id: randomUUID(), name: 'busy', state: 'provisioning' });
      w = world(vm, busy);
      await defineDomain(w, vm);
      await defineDomain(w, busy);
      await expect(w.service.create(alice, busy.id)).rejects.toMatchObject({ status: 409, code: 'INVALID_STATE' });
      await expect(w.service.create(bob, vm.id)).rejects.toMatchObject({ status: 404 });
      await w.quotas.setOverrides({} as Tx, 'alice', { backupGiB: 0 });
      await expect(w.service.create(alice, vm.id)).rejects.toMatchObject({ status: 403, code: 'QUOTA_EXCEEDED' });
      expect(w.backups.rows.size).toBe(0);
      expect(w.operations.rows.size).toBe(0);
    });
  });

  describe('reading', () => {
    it('lists ready backups only; the owner sees them, another user gets 404; ranges are served and checked', async () => {
      const vm = vmRow({ id: randomUUID(), state: 'stopped' });
      w = world(vm);
      await defineDomain(w, vm);
      const backup = await backUp(w, vm);
      await w.service.create(alice, vm.id); // still creating: not listed
      expect((await w.service.list(alice, { limit: 50 })).items.map((b) => b.id)).toEqual([backup.id]);
      expect((await w.service.listOfVm(alice, vm.id, { limit: 50 })).items.map((b) => b.id)).toEqual([backup.id]);
      expect((await w.service.list(bob, { limit: 50 })).items).toEqual([]);
      await expect(w.service.get(bob, backup.id)).rejects.toMatchObject({ status: 404 });
      await expect(w.service.readDisk(bob, backup.id, 0)).rejects.toMatchObject({ status: 404 });
      await expect(w.service.readDisk(alice, backup.id, 3)).rejects.toMatchObject({ status: 404 });
      const size = backup.manifest!.disks[0].sizeBytes;
      // Read to the end: a stream left opening would outlive the test's folder.
      const whole = await w.service.readDisk(alice, backup.id, 0);
      const wholeBytes = await buffer(whole.stream);
      expect(whole).toMatchObject({ sizeBytes: size, range: null, sha256: backup.manifest!.disks[0].sha256 });
      expect(createHash('sha256').update(wholeBytes).digest('hex')).toBe(backup.manifest!.disks[0].sha256);
      const part = await w.service.readDisk(alice, backup.id, 0, 'bytes=2-5');
      expect(part.range).toEqual({ start: 2, end: 5 });
      expect(await buffer(part.stream)).toEqual(wholeBytes.subarray(2, 6));
      await expect(w.service.readDisk(alice, backup.id, 0, `bytes=${size}-`)).rejects.toMatchObject({
        status: 416,
        headers: { 'Content-Range': `bytes */${size}` },
      });
    });

    it('byteRangeOf: one range, suffixes, open ends; several or malformed ranges are ignored', () => {
      expect(byteRangeOf(undefined, 10)).toBeNull();
      expect(byteRangeOf('bytes=0-0', 10)).toEqual({ start: 0, end: 0 });
      expect(byteRangeOf('bytes=4-', 10)).toEqual({ start: 4, end: 9 });
      expect(byteRangeOf('bytes=4-100', 10)).toEqual({ start: 4, end: 9 });
      expect(byteRangeOf('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
      expect(byteRangeOf('bytes=-30', 10)).toEqual({ start: 0, end: 9 });
      expect(byteRangeOf('bytes=10-', 10)).toBe('unsatisfiable');
      expect(byteRangeOf('bytes=-0', 10)).toBe('unsatisfiable');
      expect(byteRangeOf('bytes=5-2', 10)).toBeNull();
      expect(byteRangeOf('bytes=0-1,3-4', 10)).toBeNull();
      expect(byteRangeOf('items=0-1', 10)).toBeNull();
      expect(byteRangeOf('bytes=99999999999999999999-', 10)).toBeNull();
    });

    it('defaultRestoreName stays a VM name', () => {
      expect(defaultRestoreName('web-1', 'abcdef01-2345')).toBe('web-1-restore-abcdef01');
      expect(defaultRestoreName('x'.repeat(63), 'abcdef01-2345')).toHaveLength(63);
    });
  });

  describe('restore over the original', () => {
    it("swaps in the backup's disks as new volumes, deletes the old ones and the snapshot rows, and the backup is ready again", async () => {
      const vm = vmRow({ id: randomUUID(), state: 'stopped' });
      w = world(vm);
      await defineDomain(w, vm, 2);
      const backup = await backUp(w, vm);
      // The VM is a linked clone: its boot disk is an overlay of a base no other disk uses.
      const base = `${vm.id}-base-probe.qcow2`;
      await w.port.createVolume({ pool: POOL, name: base, sizeBytes: GIB });
      const [boot] = await w.disks.ofVm(vm.id);
      w.disks.rows.set(boot.id, Object.assign(boot, { baseVolume: base }));
      const before = await w.disks.ofVm(vm.id);
      w.snapshots.rows.set('s1', Object.assign({}, { id: 's1', vmId: vm.id, ownerId: 'alice', sizeMiB: 0 }) as never);
      const accepted = await w.service.restore(alice, backup.id, { target: 'original' });
      expect((await w.backups.find(backup.id))!.state).toBe('restoring');
      await expect(w.service.remove(alice, backup.id)).rejects.toMatchObject({ status: 409 });
      await w.run(accepted.operation);
      const after = await w.disks.ofVm(vm.id);
      expect(after.map((d) => d.id)).toEqual([0, 1].map((p) => restoredDiskId(accepted.operation.id, p)));
      expect(after.map((d) => d.serial)).toEqual(before.map((d) => d.serial));
      for (const disk of before)
        await expect(w.port.getVolume({ pool: POOL, name: disk.volume })).rejects.toMatchObject({
          code: 'VOLUME_NOT_FOUND',
        });
      for (const disk of after)
        await expect(w.port.getVolume({ pool: POOL, name: disk.volume })).resolves.toBeDefined();
      expect((await w.port.getDomain(vm.id)).disks.filter((d) => !d.seed).map((d) => d.path)).toEqual(
        after.map((d) => `/vms/${d.volume}`),
      );
      expect(w.snapshots.rows.size).toBe(0);
      await expect(w.port.getVolume({ pool: POOL, name: base })).rejects.toMatchObject({ code: 'VOLUME_NOT_FOUND' });
      expect((await w.backups.find(backup.id))!.state).toBe('ready');
      expect(w.published.find((e) => e.type === 'backup.restored')).toMatchObject({
        payload: { backupId: backup.id, vmId: vm.id },
      });
    });

    it('a flipped byte fails it with BACKUP_CORRUPT before anything changes', async () => {
      const vm = vmRow({ id: randomUUID(), state: 'stopped' });
      w = world(vm);
      await defineDomain(w, vm);
      const backup = await backUp(w, vm);
      const before = await w.disks.ofVm(vm.id);
      flipByte(join(w.backupDir, backup.id, 'disk-0.qcow2'));
      const calls = w.port.calls.length;
      const accepted = await w.service.restore(alice, backup.id, { target: 'original' });
      await expect(w.run(accepted.operation)).rejects.toMatchObject({ code: 'BACKUP_CORRUPT' });
      expect(await w.disks.ofVm(vm.id)).toEqual(before);
      expect(w.port.calls.slice(calls).map((c) => c.method)).not.toContain('uploadVolume');
      expect((await w.backups.find(backup.id))!.state).toBe('ready');
    });

    it('needs the VM stopped (409) and the file sizes as the manifest says (409 BACKUP_CORRUPT at once); refuses name with original (400)', async () => {
      const vm = vmRow({ id: randomUUID(), state: 'stopped' });
      w = world(vm);
      await defineDomain(w, vm);
      const backup = await backUp(w, vm);
      await expect(w.service.restore(alice, backup.id, { target: 'original', name: 'x' })).rejects.toMatchObject({
        status: 400,
      });
      await expect(w.service.restore(bob, backup.id, { target: 'original' })).rejects.toMatchObject({ status: 404 });
      w.rows.rows.set(vm.id, Object.assign(new Vm(), w.rows.rows.get(vm.id), { state: 'running' }));
      await expect(w.service.restore(alice, backup.id, { target: 'original' })).rejects.toMatchObject({
        status: 409,
        code: 'INVALID_STATE',
      });
      expect((await w.backups.find(backup.id))!.state).toBe('ready');
      const fd = openSync(join(w.backupDir, backup.id, 'disk-0.qcow2'), 'a');
      writeSync(fd, Buffer.from('x'));
      closeSync(fd);
      await expect(w.service.restore(alice, backup.id, { target: 'new' })).rejects.toMatchObject({
        status: 409,
        code: 'BACKUP_CORRUPT',
      });
    });
  });

  describe('restore into a new VM', () => {
    it('accepts a vm.create from the backup (its spec, disks and serials), and the filler uploads each verified file', async () => {
      const vm = vmRow({ id: randomUUID(), state: 'stopped' });
      w = world(vm);
      await defineDomain(w, vm, 2);
      const backup = await backUp(w, vm);
      const accepted = await w.service.restore(alice, backup.id, { target: 'new' });
      expect(accepted.vm.name).toBe(`web-1-restore-${backup.id.slice(0, 8)}`);
      expect(w.createdFromSource[0]).toMatchObject({
        vcpus: vm.vcpus,
        memoryMiB: vm.memoryMiB,
        preferredHostId: 'host-1',
        source: { kind: 'backup', backupId: backup.id },
        disks: backup.manifest!.disks.map((d) => ({ sizeGiB: d.sizeGiB, serial: d.serial })),
      });
      const target = vmRow({ id: randomUUID(), name: 'restored' });
      const rowsOfNew = [0, 1].map((position) =>
        newVmDisk({ vmId: target.id, position, sizeGiB: 1 }, (id) => diskVolumeName(target.id, id)),
      );
      const pool = await w.port.ensureStoragePool({ name: POOL, type: 'dir', path: '/vms' });
      await w.diskSources.fill({ kind: 'backup', backupId: backup.id }, {
        port: w.port,
        vm: target,
        pool,
        disks: rowsOfNew,
      } as DiskFillContext);
      for (const disk of rowsOfNew)
        expect((await w.port.getVolume({ pool: POOL, name: disk.volume })).virtualSizeBytes).toBe(GIB);
      expect((await w.backups.find(backup.id))!.state).toBe('ready');
    });

    it('the filler refuses a corrupt backup once its copy is done (the new VM’s tear-down deletes what it copied)', async () => {
      const vm = vmRow({ id: randomUUID(), state: 'stopped' });
      w = world(vm);
      await defineDomain(w, vm);
      const backup = await backUp(w, vm);
      await w.backups.setStateIf(backup.id, 'ready', 'restoring');
      flipByte(join(w.backupDir, backup.id, 'disk-0.qcow2'));
      const target = vmRow({ id: randomUUID(), name: 'restored' });
      const row = newVmDisk({ vmId: target.id, position: 0, sizeGiB: 1 }, (id) => diskVolumeName(target.id, id));
      const pool = await w.port.ensureStoragePool({ name: POOL, type: 'dir', path: '/vms' });
      await expect(
        w.diskSources.fill({ kind: 'backup', backupId: backup.id }, {
          port: w.port,
          vm: target,
          pool,
          disks: [row],
        } as DiskFillContext),
      ).rejects.toMatchObject({ code: 'BACKUP_CORRUPT' });
      // The copy went only into the new VM's own volume, which nothing uses yet.
      expect((await w.port.getVolume({ pool: POOL, name: row.volume })).name).toBe(row.volume);
      expect((await w.backups.find(backup.id))!.state).toBe('ready');
    });
  });

  describe('delete, sweep and schedules', () => {
    it('delete removes the files and the row (quota released) and says so', async () => {
      const vm = vmRow({ id: randomUUID(), state: 'stopped' });
      w = world(vm);
      await defineDomain(w, vm);
      const backup = await backUp(w, vm);
      expect((await w.ledger.usage('alice')).backupGiB).toBeGreaterThan(0);
      await expect(w.service.remove(bob, backup.id)).rejects.toMatchObject({ status: 404 });
      await w.service.remove(alice, backup.id);
      expect(readdirSync(w.backupDir)).toEqual([]);
      expect(w.backups.rows.size).toBe(0);
      expect((await w.ledger.usage('alice')).backupGiB).toBe(0);
      expect(w.published.find((e) => e.type === 'backup.deleted')).toMatchObject({
        payload: { id: backup.id, vmId: vm.id },
      });
    });

    it('the sweep cleans creates whose operation ended (thawed, partial folder gone, row deleted) and frees stuck restores', async () => {
      const vm = vmRow({ id: randomUUID(), state: 'running', guestAgent: 'connected' });
      w = world(vm);
      await defineDomain(w, vm);
      const ready = await backUp(w, vm);
      const abandoned = await w.service.create(alice, vm.id);
      w.operations.finish(abandoned.operation.id);
      await w.store.startPartial(abandoned.backup.id);
      await w.backups.setStateIf(ready.id, 'ready', 'restoring');
      const thaws = w.port.calls.filter((c) => c.method === 'thawFilesystems').length;
      await w.ops.sweep();
      expect(await w.backups.find(abandoned.backup.id)).toBeNull();
      expect(readdirSync(w.backupDir)).toEqual([ready.id]);
      expect(w.port.calls.filter((c) => c.method === 'thawFilesystems').length).toBe(thaws + 1);
      expect((await w.backups.find(ready.id))!.state).toBe('ready');
      // Folders whose rows went with their owner go too.
      const orphan = randomUUID();
      await w.store.startPartial(orphan);
      await w.ops.sweep();
      expect(readdirSync(w.backupDir)).toEqual([ready.id]);
    });

    it('the sweep keeps a row it cannot clean up while the hypervisor is down, and cleans it once it answers', async () => {
      const vm = vmRow({ id: randomUUID(), state: 'running', guestAgent: 'connected' });
      w = world(vm);
      await defineDomain(w, vm);
      const abandoned = await w.service.create(alice, vm.id);
      w.operations.finish(abandoned.operation.id);
      w.port.setUnavailable(true);
      await w.ops.sweep();
      expect(await w.backups.find(abandoned.backup.id)).not.toBeNull();
      w.port.setUnavailable(false);
      await w.ops.sweep();
      expect(await w.backups.find(abandoned.backup.id)).toBeNull();
    });

    it('the backup schedule runner takes backups as the owner, lists them as copies and removes them', async () => {
      const vm = vmRow({ id: randomUUID(), state: 'stopped' });
      w = world(vm);
      await defineDomain(w, vm);
      const schedule = Object.assign(new Schedule(), {
        id: randomUUID(),
        vmId: vm.id,
        ownerId: 'alice',
        kind: 'backup',
      });
      const runner = w.runners.of('backup');
      const { operationId } = await runner.run(schedule, new Date());
      await w.run({ id: operationId });
      const [copy] = await runner.copies(schedule);
      expect(copy).toMatchObject({ ready: true });
      expect((await w.backups.find(copy.id))!.scheduleId).toBe(schedule.id);
      await runner.remove(schedule, copy.id);
      expect(await runner.copies(schedule)).toEqual([]);
    });
  });
});
