import { AuthUser } from '../auth/decorators';
import { AppConfig } from '../config/app-config';
import { USER_NETWORK_ID } from '../database/migrations/1764300000000-networks';
import { FakeTransactions } from '../database/testing/fake-transactions';
import { Tx } from '../database/transaction';
import { FakeVmDiskRepository } from '../disks/testing/fake-vm-disk-repository';
import { newVmDisk } from '../disks/vm-disk-fields';
import { HostPlacement } from '../hosts/host-placement';
import { HostPorts } from '../hosts/host-ports';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { FakeIdempotencyKeyRepository } from '../idempotency/testing/fake-idempotency-key-repository';
import { Image } from '../images/image.entity';
import { ImagesService } from '../images/images.service';
import { MetricsService } from '../metrics/metrics.service';
import { FakeNetworkRepository, FakeVmNicRepository } from '../networks/testing/fake-network-repositories';
import { FakePortForwardRepository } from '../networks/testing/fake-port-forward-repository';
import { VmNetworking } from '../networks/vm-networking';
import { FakeOperationsService } from '../operations/testing/fake-operations-service';
import { QuotaLedger } from '../quotas/quota-ledger';
import { FakeQuotaRepository } from '../quotas/testing/fake-quota-repository';
import { Snapshot } from '../snapshots/snapshot.entity';
import { SnapshotRepository } from '../snapshots/snapshot.repository';
import { FakeVmRepository, vmRow } from './testing/fake-vm-repository';
import { cloneCloudInit, VmClonesService } from './vm-clones.service';
import { Vm } from './vm.entity';
import { VmAccess } from './vm-access';
import { REGENERATE_MACHINE_ID, cloudInitUserData } from './cloud-init-user-data';

const alice: AuthUser = { id: 'alice', username: 'alice', role: 'user' };
const bob: AuthUser = { id: 'bob', username: 'bob', role: 'user' };
const GIB = 1024 ** 3;
const DISK_IMAGE = Object.assign(new Image(), { id: 'disk', kind: 'disk', format: 'qcow2' });
const KERNEL_IMAGE = Object.assign(new Image(), { id: 'kernel', kind: 'kernel', format: null });

function world(source: Vm, snapshots: Snapshot[] = []) {
  const rows = new FakeVmRepository(source);
  const keys = new FakeIdempotencyKeyRepository();
  const transactions = new FakeTransactions(rows.rows, keys.rows);
  const operations = new FakeOperationsService(new IdempotencyService(keys.asRepository, transactions.asTransactions));
  transactions.track(operations.rows);
  const networks = new FakeNetworkRepository();
  const nics = new FakeVmNicRepository();
  transactions.track(nics.rows);
  const disks = new FakeVmDiskRepository();
  transactions.track(disks.rows);
  const quotas = new FakeQuotaRepository(rows);
  const config = {
    defaultQuota: { vms: 3, vcpus: 4, memoryMiB: 1024, diskGiB: 10, snapshots: 2, backupGiB: 10 },
    hypervisor: { vmNetwork: 'user' },
  } as AppConfig;
  const metrics = { quotaDenials: { inc: () => undefined } } as unknown as MetricsService;
  const hosts = { place: jest.fn(async () => 'host-1'), assertStorageRoom: jest.fn(async () => undefined) };
  const images = { get: async (id: string) => (id === 'disk' ? DISK_IMAGE : KERNEL_IMAGE) };
  const snapshotRepository = {
    findOfVm: async (_tx: Tx, vmId: string, id: string) =>
      snapshots.find((s) => s.vmId === vmId && s.id === id) ?? null,
  };
  const networking = new VmNetworking(
    config,
    networks.asRepository,
    nics.asRepository,
    new FakePortForwardRepository().asRepository,
  );
  const service = new VmClonesService(
    new VmAccess(rows.asRepository),
    rows.asRepository,
    disks.asRepository,
    snapshotRepository as unknown as SnapshotRepository,
    images as unknown as ImagesService,
    new QuotaLedger(config, metrics, quotas.asRepository),
    hosts as unknown as HostPlacement,
    { localId: 'host-1' } as unknown as HostPorts,
    networking,
    operations.asService,
  );
  return { service, rows, disks, nics, operations, hosts, networking };
}

/** A stopped VM of alice's with a boot and a data disk and one NIC, created with cloud-init. */
async function stoppedSource(fields: Partial<Vm> = {}) {
  const source = vmRow({
    id: '11111111-1111-4111-8111-111111111111',
    ownerId: 'alice',
    hostId: 'host-1',
    state: 'stopped',
    imageId: 'disk',
    vcpus: 2,
    memoryMiB: 256,
    diskGiB: 3,
    bootOrder: ['hd'],
    ...fields,
  });
  const w = world(source);
  await w.disks.add(
    {} as Tx,
    newVmDisk({ vmId: source.id, position: 0, sizeGiB: 2, bootIndex: 1 }, (id) => `${id}.qcow2`),
  );
  await w.disks.add(
    {} as Tx,
    newVmDisk({ vmId: source.id, position: 1, sizeGiB: 1, bus: 'scsi' }, (id) => `${id}.qcow2`),
  );
  await w.networking.insert({} as Tx, source.id, { networkId: USER_NETWORK_ID }, 0);
  await w.operations.create({} as Tx, {
    kind: 'vm.create',
    ownerId: 'alice',
    vmId: source.id,
    params: {
      start: true,
      cloudInit: { hostname: 'src', userData: '#cloud-config\n', sshAuthorizedKeys: ['ssh-ed25519 AAAA a'] },
    },
  });
  w.operations.finish([...w.operations.rows.keys()][0]);
  return { ...w, source };
}

describe('VmClonesService', () => {
  it('writes the clone with the source shape: disks by position (new ids, bases when linked), NICs with new MACs, a vm.create with a clone source', async () => {
    const { service, disks, nics, source, operations, hosts } = await stoppedSource();
    const accepted = await service.clone(alice, source.id, { name: 'copy', linked: true });
    expect(accepted.vm).toMatchObject({
      name: 'copy',
      ownerId: 'alice',
      hostId: 'host-1',
      vcpus: 2,
      memoryMiB: 256,
      diskGiB: 3,
      imageId: 'disk',
      state: 'provisioning',
    });
    expect(hosts.place).toHaveBeenCalledWith(
      expect.anything(),
      { vcpus: 2, memoryMiB: 256, diskBytes: 3 * GIB },
      'host-1',
    );
    const [sourceBoot, sourceData] = await disks.ofVm(source.id);
    const [boot, data] = await disks.ofVm(accepted.vm.id);
    expect(boot).toMatchObject({ position: 0, sizeGiB: 2, bootIndex: 1, bus: 'virtio' });
    expect(data).toMatchObject({ position: 1, sizeGiB: 1, bootIndex: null, bus: 'scsi' });
    expect([boot.id, data.id]).not.toContain(sourceBoot.id);
    expect(data.serial).not.toBe(sourceData.serial);
    expect(boot.baseVolume).toBe(`${accepted.vm.id}-base-${boot.id}.qcow2`);
    const [sourceNic] = await nics.ofVm(source.id);
    const [nic] = await nics.ofVm(accepted.vm.id);
    expect(nic).toMatchObject({ networkId: USER_NETWORK_ID, position: 0 });
    expect(nic.mac).not.toBe(sourceNic.mac);
    expect(operations.rows.get(accepted.operation.id)!.params).toEqual({
      start: true,
      cloudInit: { userData: '#cloud-config\n', sshAuthorizedKeys: ['ssh-ed25519 AAAA a'], regenerateMachineId: true },
      source: { kind: 'clone', vmId: source.id, linked: true, snapshotName: null },
    });
  });

  it('full clones have no bases', async () => {
    const { service, disks, source } = await stoppedSource();
    const accepted = await service.clone(alice, source.id, { name: 'copy' });
    expect((await disks.ofVm(accepted.vm.id)).map((d) => d.baseVolume)).toEqual([null, null]);
  });

  it("another user's VM is 404; a running one without a snapshot 409; a taken name 409; beyond the quota 403; nothing written", async () => {
    const { service, source, rows, disks } = await stoppedSource();
    await expect(service.clone(bob, source.id, { name: 'copy' })).rejects.toMatchObject({ status: 404 });
    await expect(service.clone(alice, source.id, { name: source.name })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    rows.rows.set(source.id, { ...source, state: 'running' } as Vm);
    await expect(service.clone(alice, source.id, { name: 'copy' })).rejects.toMatchObject({
      code: 'INVALID_STATE',
    });
    rows.rows.set(source.id, { ...source, vcpus: 3 } as Vm);
    await expect(service.clone(alice, source.id, { name: 'copy' })).rejects.toMatchObject({
      code: 'QUOTA_EXCEEDED',
    });
    expect(rows.rows.size).toBe(1);
    expect([...disks.rows.values()].every((d) => d.vmId === source.id)).toBe(true);
  });

  it('from a snapshot: a ready one of the source (running or not); another VM’s or unknown is 404, one not ready 409', async () => {
    const source = vmRow({
      id: '22222222-2222-4222-8222-222222222222',
      ownerId: 'alice',
      state: 'running',
      imageId: 'kernel',
    });
    const snapshot = (fields: Partial<Snapshot>) =>
      Object.assign(new Snapshot(), { vmId: source.id, name: 'snap', state: 'ready', ...fields });
    const { service, operations } = world(source, [
      snapshot({ id: 'ready' }),
      snapshot({ id: 'creating', state: 'creating' }),
      snapshot({ id: 'elsewhere', vmId: 'other' }),
    ]);
    await expect(service.clone(alice, source.id, { name: 'a', snapshotId: 'elsewhere' })).rejects.toMatchObject({
      status: 404,
    });
    await expect(service.clone(alice, source.id, { name: 'a', snapshotId: 'creating' })).rejects.toMatchObject({
      code: 'INVALID_STATE',
    });
    const accepted = await service.clone(alice, source.id, { name: 'a', snapshotId: 'ready', start: false });
    // A kernel image boots no cloud-init: no seed for the clone either.
    expect(operations.rows.get(accepted.operation.id)!.params).toEqual({
      start: false,
      cloudInit: null,
      source: { kind: 'clone', vmId: source.id, linked: false, snapshotName: 'snap' },
    });
  });
});

describe('cloneCloudInit and its user-data', () => {
  it('keeps the keys and user-data, drops the hostname, asks for a new machine id', () => {
    expect(cloneCloudInit(DISK_IMAGE, { hostname: 'src', sshAuthorizedKeys: ['k'] })).toEqual({
      sshAuthorizedKeys: ['k'],
      regenerateMachineId: true,
    });
    expect(cloneCloudInit(DISK_IMAGE, null)).toEqual({ regenerateMachineId: true });
    expect(cloneCloudInit(KERNEL_IMAGE, { sshAuthorizedKeys: ['k'] })).toBeNull();
  });

  it('writes the machine-id step as a bootcmd, beside the keys or in a part of its own next to raw user-data', () => {
    const step = `bootcmd:\n  - ${JSON.stringify(REGENERATE_MACHINE_ID)}\n`;
    expect(cloudInitUserData({ regenerateMachineId: true })).toBe(`#cloud-config\n${step}`);
    const mixed = cloudInitUserData({ regenerateMachineId: true, userData: '#!/bin/sh\necho hi\n' });
    expect(mixed).toContain('multipart/mixed');
    expect(mixed).toContain('#!/bin/sh\necho hi\n');
    expect(mixed).toContain(`#cloud-config\n${step}`);
    expect(REGENERATE_MACHINE_ID.slice(0, 2)).toEqual(['cloud-init-per', 'instance']);
  });
});
