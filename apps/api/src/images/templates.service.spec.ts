import { Logger } from '@nestjs/common';
import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthUser } from '../auth/decorators';
import { AppConfig } from '../config/app-config';
import { FakeTransactions } from '../database/testing/fake-transactions';
import { Tx } from '../database/transaction';
import { FakeVmDiskRepository } from '../disks/testing/fake-vm-disk-repository';
import { newVmDisk } from '../disks/vm-disk-fields';
import { EventsService, NewEvent } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { FakeIdempotencyKeyRepository } from '../idempotency/testing/fake-idempotency-key-repository';
import { MetricsService } from '../metrics/metrics.service';
import { Operation } from '../operations/operation.entity';
import { OperationHandler, OperationRunner, operationErrorFrom } from '../operations/operation-runner';
import { FakeOperationsService } from '../operations/testing/fake-operations-service';
import { QuotaLedger } from '../quotas/quota-ledger';
import { FakeQuotaRepository } from '../quotas/testing/fake-quota-repository';
import { FakeVmRepository, vmRow } from '../vms/testing/fake-vm-repository';
import { VmAccess } from '../vms/vm-access';
import { Vm } from '../vms/vm.entity';
import { Image } from './image.entity';
import { ImageRepository } from './image.repository';
import { TemplateOperations } from './template-operations';
import { TemplatesService } from './templates.service';

const alice: AuthUser = { id: 'alice', username: 'alice', role: 'user' };
const bob: AuthUser = { id: 'bob', username: 'bob', role: 'user' };
const GIB = 1024 ** 3;
const POOL = { name: 'limen-vms', path: '/var/lib/limen/vms' };

/** The images table in memory, with the unique template name (case aside) the index enforces. */
class FakeImageRepository {
  readonly rows = new Map<string, Image>();

  async find(id: string) {
    return this.rows.get(id) ?? null;
  }

  async nameTaken(_tx: Tx, name: string) {
    return [...this.rows.values()].some((image) => image.name.toLowerCase() === name.toLowerCase());
  }

  async insertTemplateIfNameFree(_tx: Tx, image: Image) {
    if (await this.nameTaken(_tx, image.name)) return false;
    // As the real insert, which fills in what the database generated.
    image.createdAt = new Date();
    this.rows.set(image.id, Object.assign(new Image(), image));
    return true;
  }

  async markTemplateReady(id: string, fields: Partial<Image>) {
    Object.assign(this.rows.get(id)!, fields, { state: 'ready', available: true });
  }

  async delete(id: string) {
    this.rows.delete(id);
  }

  get asRepository(): ImageRepository {
    return this as unknown as ImageRepository;
  }
}

async function world(fields: Partial<Vm> = {}) {
  const imageDir = mkdtempSync(join(tmpdir(), 'limen-templates-'));
  const vm = vmRow({ id: '33333333-3333-4333-8333-333333333333', ownerId: 'alice', state: 'stopped', ...fields });
  const rows = new FakeVmRepository(vm);
  const keys = new FakeIdempotencyKeyRepository();
  const transactions = new FakeTransactions(rows.rows, keys.rows);
  const operations = new FakeOperationsService(new IdempotencyService(keys.asRepository, transactions.asTransactions));
  transactions.track(operations.rows);
  const images = new FakeImageRepository();
  transactions.track(images.rows);
  const disks = new FakeVmDiskRepository();
  const boot = newVmDisk({ vmId: vm.id, position: 0, sizeGiB: 1, bootIndex: 1 }, (id) => `${vm.id}-disk-${id}.qcow2`);
  await disks.add({} as Tx, boot);
  const port = new FakeVirtualizationPort();
  await port.ensureStoragePool({ ...POOL, type: 'dir' });
  await port.createVolume({ pool: POOL.name, name: boot.volume, sizeBytes: GIB });
  const quotas = new FakeQuotaRepository(rows);
  const config = {
    hypervisor: { imageDir },
    defaultQuota: { vms: 3, vcpus: 4, memoryMiB: 1024, diskGiB: 10, snapshots: 2, backupGiB: 1 },
  } as AppConfig;
  const metrics = { quotaDenials: { inc: () => undefined } } as unknown as MetricsService;
  const hostPorts = { forVm: () => port } as unknown as HostPorts;
  const storage = { vmPool: async () => POOL } as unknown as HostStorage;
  const service = new TemplatesService(
    config,
    new VmAccess(rows.asRepository),
    images.asRepository,
    disks.asRepository,
    hostPorts,
    storage,
    new QuotaLedger(config, metrics, quotas.asRepository),
    operations.asService,
  );
  const handlers = new Map<string, OperationHandler>();
  const published: NewEvent[] = [];
  new TemplateOperations(
    {
      register: (kind: string, handler: OperationHandler) => handlers.set(kind, handler),
    } as unknown as OperationRunner,
    images.asRepository,
    rows.asRepository,
    disks.asRepository,
    hostPorts,
    storage,
    { publish: async (event: NewEvent) => void published.push(event) } as unknown as EventsService,
  ).onModuleInit();
  const run = (op: { id: string }) => handlers.get('image.create')!(operations.rows.get(op.id) as Operation);
  return { vm, rows, images, quotas, operations, service, run, published, port, imageDir };
}

describe('TemplatesService and the image.create operation', () => {
  beforeAll(() => Logger.overrideLogger(false));
  let imageDir: string | undefined;
  afterEach(() => imageDir && rmSync(imageDir, { recursive: true, force: true }));

  it('writes a private creating template owned by the caller, reserving backupGiB; the operation exports the boot disk and makes it ready', async () => {
    const w = await world();
    imageDir = w.imageDir;
    const accepted = await w.service.create(alice, w.vm.id, { name: 'base', description: 'blank' });
    expect(accepted.image).toMatchObject({
      name: 'base',
      description: 'blank',
      kind: 'disk',
      state: 'creating',
      available: false,
      ownerId: 'alice',
      sourceVmId: w.vm.id,
      visibility: 'private',
    });
    expect(accepted.operation).toMatchObject({ kind: 'image.create', vmId: w.vm.id });
    expect(w.operations.rows.get(accepted.operation.id)!.params).toEqual({ imageId: accepted.image.id });
    const row = w.images.rows.get(accepted.image.id)!;
    expect(row.path).toBe(join(w.imageDir, `template-${row.id}.qcow2`));

    expect(await w.run(accepted.operation)).toEqual({ imageId: row.id, sizeBytes: statSync(row.path).size });
    expect(row).toMatchObject({
      state: 'ready',
      available: true,
      sizeBytes: statSync(row.path).size,
      sha256: createHash('sha256').update(readFileSync(row.path)).digest('hex'),
    });
    expect(statSync(row.path).mode & 0o777).toBe(0o644);
    expect(w.published).toEqual([
      { type: 'image.created', ownerId: 'alice', payload: expect.objectContaining({ id: row.id, state: 'ready' }) },
    ]);
    // A re-run of a finished template changes nothing.
    expect(await w.run(accepted.operation)).toEqual({ imageId: row.id, sizeBytes: row.sizeBytes });
  });

  it('a failed export deletes the row (releasing the reservation) and leaves no file', async () => {
    const w = await world();
    imageDir = w.imageDir;
    const accepted = await w.service.create(alice, w.vm.id, { name: 'base' });
    const row = w.images.rows.get(accepted.image.id)!;
    w.rows.rows.delete(w.vm.id);
    expect(
      await w.run(accepted.operation).then(
        () => null,
        (error) => operationErrorFrom(error).code,
      ),
    ).toBe('DOMAIN_NOT_FOUND');
    expect(w.images.rows.has(row.id)).toBe(false);
    expect(existsSync(row.path)).toBe(false);
  });

  it('refuses a VM not stopped (409), a taken name (409, case aside), beyond backupGiB (403), another user’s VM (404)', async () => {
    const w = await world();
    imageDir = w.imageDir;
    const code = (work: Promise<unknown>) =>
      work.then(
        () => 'accepted',
        (error) => `${error.status} ${error.code}`,
      );
    expect(await code(w.service.create(bob, w.vm.id, { name: 'x' }))).toBe('404 NOT_FOUND');
    w.images.rows.set('file', Object.assign(new Image(), { id: 'file', name: 'Debian.qcow2' }));
    expect(await code(w.service.create(alice, w.vm.id, { name: 'debian.QCOW2' }))).toBe('409 CONFLICT');
    w.quotas.backupBytesByUser.set('alice', GIB);
    expect(await code(w.service.create(alice, w.vm.id, { name: 'full' }))).toBe('403 QUOTA_EXCEEDED');
    w.quotas.backupBytesByUser.clear();
    w.rows.rows.set(w.vm.id, { ...w.vm, state: 'running' } as Vm);
    expect(await code(w.service.create(alice, w.vm.id, { name: 'hot' }))).toBe('409 INVALID_STATE');
    expect([...w.images.rows.keys()]).toEqual(['file']);
  });
});
