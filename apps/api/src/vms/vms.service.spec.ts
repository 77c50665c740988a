import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { AuthUser } from '../auth/decorators';
import { AppConfig } from '../config/app-config';
import { FakeVmDiskRepository } from '../disks/testing/fake-vm-disk-repository';
import { USER_NETWORK_ID } from '../database/migrations/1764300000000-networks';
import { FakeTransactions } from '../database/testing/fake-transactions';
import { EventsService, NewEvent } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { HostPlacement } from '../hosts/host-placement';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { IdempotentReplay } from '../idempotency/resource-response';
import { FakeIdempotencyKeyRepository } from '../idempotency/testing/fake-idempotency-key-repository';
import { Image } from '../images/image.entity';
import { ImagesService } from '../images/images.service';
import { MetricsService } from '../metrics/metrics.service';
import { Operation } from '../operations/operation.entity';
import {
  FakeNetworkRepository,
  FakeVmNicRepository,
  userNetworkRow,
} from '../networks/testing/fake-network-repositories';
import { HostPortProbe } from '../networks/host-port-probe';
import { PortForwardAllocator } from '../networks/port-forward-allocator';
import { FakePortForwardRepository } from '../networks/testing/fake-port-forward-repository';
import { VmNetworking } from '../networks/vm-networking';
import { FakeOperationsService } from '../operations/testing/fake-operations-service';
import { QuotaLedger } from '../quotas/quota-ledger';
import { FakeQuotaRepository } from '../quotas/testing/fake-quota-repository';
import { SshKey } from '../ssh-keys/ssh-key.entity';
import { SshKeysService } from '../ssh-keys/ssh-keys.service';
import { FakeSshKeyRepository } from '../ssh-keys/testing/fake-ssh-key-repository';
import { CreateVmDto } from './dto/create-vm.dto';
import { VmAcceptedDto, VmDto } from './dto/vm.dto';
import { FakeVmRepository, vmRow } from './testing/fake-vm-repository';
import { Vm } from './vm.entity';
import { VmStateWriter } from './vm-state-writer';
import { VmAccess } from './vm-access';
import { VmsService } from './vms.service';

const alice: AuthUser = { id: 'alice', username: 'alice', role: 'user' };
const bob: AuthUser = { id: 'bob', username: 'bob', role: 'user' };
const admin: AuthUser = { id: 'root', username: 'admin', role: 'admin' };
const GIB = 1024 ** 3;

const IMAGES: Record<string, Partial<Image>> = {
  kernel: { id: 'kernel', kind: 'kernel', path: '/images/vmlinuz', format: null },
  disk: { id: 'disk', kind: 'disk', path: '/images/cloud.qcow2', format: 'qcow2' },
  iso: { id: 'iso', kind: 'iso', path: '/images/install.iso', format: 'raw' },
};

function world(...vms: Vm[]) {
  const rows = new FakeVmRepository(...vms);
  const published: NewEvent[] = [];
  const events = { publish: async (event: NewEvent) => void published.push(event) } as unknown as EventsService;
  const keys = new FakeIdempotencyKeyRepository();
  const transactions = new FakeTransactions(rows.rows, keys.rows);
  const operations = new FakeOperationsService(new IdempotencyService(keys.asRepository, transactions.asTransactions));
  transactions.track(operations.rows);
  const networks = new FakeNetworkRepository();
  const nics = new FakeVmNicRepository();
  transactions.track(nics.rows);
  const forwards = new FakePortForwardRepository();
  transactions.track(forwards.rows);
  const disks = new FakeVmDiskRepository();
  transactions.track(disks.rows);
  const quotas = new FakeQuotaRepository(rows);
  const config = {
    defaultQuota: { vms: 3, vcpus: 4, memoryMiB: 1024, diskGiB: 10, snapshots: 2 },
    hypervisor: { vmNetwork: 'user' },
    portForwards: { from: 20000, to: 20001, address: '127.0.0.1' },
  } as AppConfig;
  const metrics = { quotaDenials: { inc: () => undefined } } as unknown as MetricsService;
  const port = new FakeVirtualizationPort();
  const hosts = {
    place: jest.fn(async () => 'host-1'),
    assertStorageRoom: jest.fn(async () => undefined),
    assertRoomToGrow: jest.fn(async () => undefined),
  };
  const images = {
    usable: async (_user: AuthUser, id: string) => Object.assign(new Image(), IMAGES[id]),
    virtualSizeOf: async (image: Image) => (image.id === 'disk' ? 3 * GIB : 0),
  };
  const stateWriter = new VmStateWriter(rows.asRepository, events);
  const sshKeys = new FakeSshKeyRepository();
  const service = new VmsService(
    rows.asRepository,
    stateWriter,
    { localPort: port, forVm: () => port } as unknown as HostPorts,
    hosts as unknown as HostPlacement,
    new VmAccess(rows.asRepository),
    new QuotaLedger(config, metrics, quotas.asRepository),
    images as unknown as ImagesService,
    operations.asService,
    new SshKeysService(sshKeys.asRepository),
    new VmNetworking(config, networks.asRepository, nics.asRepository, forwards.asRepository),
    new PortForwardAllocator(
      config,
      { localId: 'host-1' } as unknown as HostPorts,
      { isFree: async () => true } as unknown as HostPortProbe,
      forwards.asRepository,
      networks.asRepository,
    ),
    disks.asRepository,
  );
  const ledger = new QuotaLedger(config, metrics, quotas.asRepository);
  return { service, rows, operations, quotas, ledger, hosts, keys, sshKeys, networks, nics, forwards, disks };
}

function createDto(fields: Partial<CreateVmDto> = {}): CreateVmDto {
  return { name: 'web-1', vcpus: 1, memoryMiB: 256, diskGiB: 1, imageId: 'kernel', start: false, ...fields };
}

describe('VmsService', () => {
  describe('create', () => {
    it('writes a provisioning VM and its vm.create operation, and charges it to the quota under the owner’s lock', async () => {
      const { service, operations, quotas, ledger } = world();
      const accepted = await service.create(alice, createDto({ vcpus: 2, memoryMiB: 512, diskGiB: 2 }));
      expect(accepted.vm).toMatchObject({ ownerId: 'alice', state: 'provisioning', version: 1, hostId: 'host-1' });
      expect(accepted.operation).toMatchObject({ kind: 'vm.create', status: 'pending', vmId: accepted.vm.id });
      expect(operations.submitted).toEqual([accepted.operation.id]);
      expect(operations.announced.map((e) => e.type)).toEqual(['vm.created']);
      expect(quotas.locked).toEqual(['alice']);
      expect(await ledger.usage('alice')).toEqual({
        vms: 1,
        vcpus: 2,
        memoryMiB: 512,
        diskGiB: 2,
        snapshots: 0,
        backupGiB: 0,
      });
    });

    it('writes the boot disk row with the VM: position 0, the disk size, boot index 1, a serial from its id', async () => {
      const { service, disks } = world();
      const accepted = await service.create(alice, createDto({ diskGiB: 2 }));
      const [boot, ...others] = await disks.ofVm(accepted.vm.id);
      expect(others).toEqual([]);
      expect(boot).toMatchObject({ vmId: accepted.vm.id, position: 0, sizeGiB: 2, bus: 'virtio', bootIndex: 1 });
      expect(boot.serial).toBe(boot.id.replace(/-/g, '').slice(0, 20));
    });

    it('writes data disks after the boot disk (positions 1, 2, …) and charges every disk: diskGiB is their sum', async () => {
      const { service, disks, ledger, hosts } = world();
      const accepted = await service.create(
        alice,
        createDto({ imageId: 'disk', diskGiB: 1, disks: [{ sizeGiB: 2 }, { sizeGiB: 1, bus: 'scsi' }] }),
      );
      const rows = await disks.ofVm(accepted.vm.id);
      // The boot disk covers the 3 GiB image.
      expect(rows.map((disk) => [disk.position, disk.sizeGiB, disk.bus, disk.bootIndex])).toEqual([
        [0, 3, 'virtio', 1],
        [1, 2, 'virtio', null],
        [2, 1, 'scsi', null],
      ]);
      expect(new Set(rows.map((disk) => disk.serial)).size).toBe(3);
      expect(accepted.vm.diskGiB).toBe(6);
      expect((await ledger.usage('alice')).diskGiB).toBe(6);
      expect(hosts.assertStorageRoom).toHaveBeenCalledWith('host-1', 6 * GIB);
    });

    it('refuses data disks beyond the disk quota (403), writing no VM and no disk', async () => {
      const { service, disks, rows } = world();
      await expect(
        service.create(alice, createDto({ diskGiB: 1, disks: [{ sizeGiB: 5 }, { sizeGiB: 5 }] })),
      ).rejects.toMatchObject({ status: 403, code: 'QUOTA_EXCEEDED', extra: { resource: 'diskGiB', requested: 11 } });
      expect(rows.rows.size).toBe(0);
      expect(disks.rows.size).toBe(0);
    });

    it('sets autostart and the desired state from `start`: running and on by default, stopped and off with start false; autostart as given wins', async () => {
      const { service } = world();
      const byDefault = await service.create(alice, createDto({ name: 'default', start: undefined }));
      expect(byDefault.vm).toMatchObject({
        autostart: true,
        desiredState: 'running',
        autostartAttempts: { count: 0, nextAt: null, lastError: null },
      });
      const stopped = await service.create(alice, createDto({ name: 'off', start: false }));
      expect(stopped.vm).toMatchObject({ autostart: false, desiredState: 'stopped' });
      const chosen = await service.create(alice, createDto({ name: 'chosen', start: true, autostart: false }));
      expect(chosen.vm).toMatchObject({ autostart: false, desiredState: 'running' });
    });

    it('refuses what the quota cannot hold with 403 QUOTA_EXCEEDED, and writes nothing', async () => {
      const { service, rows, operations } = world(vmRow({ vcpus: 3 }));
      await expect(service.create(alice, createDto({ name: 'big', vcpus: 2 }))).rejects.toMatchObject({
        status: 403,
        code: 'QUOTA_EXCEEDED',
        extra: { resource: 'vcpus', limit: 4, used: 3, requested: 2 },
      });
      expect(rows.rows.size).toBe(1);
      expect(operations.rows.size).toBe(0);
    });

    it('refuses a second VM of the same name for the same owner with 409 CONFLICT; another owner may use it', async () => {
      const { service, rows, operations } = world(vmRow({ name: 'web-1' }));
      await expect(service.create(alice, createDto({ name: 'web-1' }))).rejects.toMatchObject({
        status: 409,
        code: 'CONFLICT',
      });
      expect(operations.rows.size).toBe(0);
      await service.create(bob, createDto({ name: 'web-1' }));
      expect(rows.rows.size).toBe(2);
    });

    it('charges a disk over a disk image at least the image’s virtual size', async () => {
      const { service, ledger } = world();
      const accepted = await service.create(alice, createDto({ imageId: 'disk', diskGiB: 1 }));
      expect(accepted.vm.diskGiB).toBe(3);
      expect((await ledger.usage('alice')).diskGiB).toBe(3);
    });

    it('refuses cloudInit without a disk image (400) and a chosen host from a non-admin (403)', async () => {
      const { service, hosts } = world();
      await expect(service.create(alice, createDto({ cloudInit: { hostname: 'x' } }))).rejects.toMatchObject({
        status: 400,
        code: 'VALIDATION_FAILED',
      });
      await expect(service.create(alice, createDto({ hostId: 'host-2' }))).rejects.toMatchObject({ status: 403 });
      await service.create(admin, createDto({ hostId: 'host-2' }));
      expect(hosts.place).toHaveBeenCalledWith(
        expect.anything(),
        { vcpus: 1, memoryMiB: 256, diskBytes: 1024 ** 3 },
        'host-2',
      );
    });
  });

  describe('create with port forwards', () => {
    const LAN_ID = '7b0e4a55-8e8f-4c3a-9a57-0e2f6d1c0a01';
    const withLan = (w: ReturnType<typeof world>) =>
      w.networks.rows.set(LAN_ID, Object.assign(userNetworkRow(), { id: LAN_ID, name: 'lan', kind: 'isolated' }));

    it("allocates the forwards of a user-mode NIC in the create's transaction", async () => {
      const w = world();
      withLan(w);
      const accepted = await w.service.create(
        alice,
        createDto({
          nics: [
            { networkId: LAN_ID },
            { networkId: USER_NETWORK_ID, portForwards: [{ guestPort: 22 }, { guestPort: 53, protocol: 'udp' }] },
          ],
        }),
      );
      const userNic = [...w.nics.rows.values()].find((n) => n.networkId === USER_NETWORK_ID)!;
      expect([...w.forwards.rows.values()].map((f) => [f.vmId, f.nicId, f.protocol, f.guestPort, f.hostPort])).toEqual([
        [accepted.vm.id, userNic.id, 'tcp', 22, 20000],
        [accepted.vm.id, userNic.id, 'udp', 53, 20000],
      ]);
    });

    it('refuses forwards on a NIC that is not user-mode (400) and a full range (409), and then writes nothing', async () => {
      const w = world();
      withLan(w);
      await expect(
        w.service.create(alice, createDto({ nics: [{ networkId: LAN_ID, portForwards: [{ guestPort: 22 }] }] })),
      ).rejects.toMatchObject({ status: 400, extra: { errors: [{ field: 'nics.0.portForwards' }] } });
      const three = [{ guestPort: 22 }, { guestPort: 80 }, { guestPort: 443 }];
      await expect(
        w.service.create(alice, createDto({ nics: [{ networkId: USER_NETWORK_ID, portForwards: three }] })),
      ).rejects.toMatchObject({ status: 409, code: 'PORT_RANGE_EXHAUSTED' });
      expect([w.rows.rows.size, w.nics.rows.size, w.forwards.rows.size, w.operations.rows.size]).toEqual([0, 0, 0, 0]);
    });
  });

  describe('create with SSH keys', () => {
    const createParams = (operations: FakeOperationsService, id: string) =>
      (operations.rows.get(id) as Operation<'vm.create'>).params;

    async function keyOf(sshKeys: FakeSshKeyRepository, ownerId: string, publicKey: string): Promise<string> {
      const key = Object.assign(new SshKey(), {
        ownerId,
        name: publicKey.slice(-6),
        publicKey,
        fingerprint: publicKey,
      });
      await sshKeys.insertIfFree(key);
      return key.id;
    }

    it('stores the keys of sshKeyIds in the operation, after the inline ones and each once', async () => {
      const { service, operations, sshKeys } = world();
      const a = await keyOf(sshKeys, 'alice', 'ssh-ed25519 AAAAa alice-a');
      const b = await keyOf(sshKeys, 'alice', 'ssh-ed25519 AAAAb alice-b');
      const accepted = await service.create(
        alice,
        createDto({
          imageId: 'disk',
          sshKeyIds: [b, a, b],
          cloudInit: { hostname: 'web', sshAuthorizedKeys: ['ssh-ed25519 AAAAb alice-b', 'ssh-ed25519 AAAAc inline'] },
        }),
      );
      expect(operations.rows.get(accepted.operation.id)!.params).toEqual({
        start: false,
        cloudInit: {
          hostname: 'web',
          sshAuthorizedKeys: ['ssh-ed25519 AAAAb alice-b', 'ssh-ed25519 AAAAc inline', 'ssh-ed25519 AAAAa alice-a'],
        },
      });
      // Deleting a key afterwards does not change what a re-run of the operation installs.
      sshKeys.rows.clear();
      expect(createParams(operations, accepted.operation.id).cloudInit!.sshAuthorizedKeys).toHaveLength(3);
    });

    it('makes a seed for sshKeyIds alone, and none without keys or cloudInit', async () => {
      const { service, operations, sshKeys } = world();
      const a = await keyOf(sshKeys, 'alice', 'ssh-ed25519 AAAAa alice-a');
      const withKey = await service.create(alice, createDto({ name: 'k', imageId: 'disk', sshKeyIds: [a] }));
      const without = await service.create(alice, createDto({ name: 'n', imageId: 'disk', sshKeyIds: [] }));
      expect(createParams(operations, withKey.operation.id).cloudInit).toEqual({
        sshAuthorizedKeys: ['ssh-ed25519 AAAAa alice-a'],
      });
      expect(createParams(operations, without.operation.id).cloudInit).toBeNull();
    });

    it("refuses someone else's or an unknown key with 404 and writes nothing; keys need a disk image (400)", async () => {
      const { service, rows, operations, sshKeys, ledger } = world();
      const bobs = await keyOf(sshKeys, 'bob', 'ssh-ed25519 AAAAz bob');
      for (const ids of [[bobs], ['5d2f1a8e-7c3b-4e9a-9f1d-2b6c8e4a7f30']]) {
        await expect(service.create(alice, createDto({ imageId: 'disk', sshKeyIds: ids }))).rejects.toMatchObject({
          status: 404,
          code: 'NOT_FOUND',
        });
      }
      await expect(service.create(bob, createDto({ imageId: 'kernel', sshKeyIds: [bobs] }))).rejects.toMatchObject({
        status: 400,
        extra: { errors: [{ field: 'sshKeyIds', messages: ['sshKeyIds is only supported with disk images'] }] },
      });
      expect(rows.rows.size).toBe(0);
      expect(operations.rows.size).toBe(0);
      expect((await ledger.usage('alice')).vms).toBe(0);
    });
  });

  describe('actions', () => {
    it('are accepted only from the states they make sense in (409 INVALID_STATE otherwise)', async () => {
      const vm = vmRow({ state: 'stopped' });
      const { service, operations } = world(vm);
      await expect(service.action(alice, vm.id, { action: 'shutdown' })).rejects.toMatchObject({
        status: 409,
        code: 'INVALID_STATE',
        extra: { state: 'stopped', allowedFrom: ['running', 'paused'] },
      });
      const { vm: answered, operation } = await service.action(alice, vm.id, { action: 'start' });
      expect(operations.rows.get(operation.id)).toMatchObject({
        kind: 'vm.start',
        params: { timeoutSeconds: 60, force: false },
      });
      expect(answered).toMatchObject({ id: vm.id, state: 'stopped', desiredState: 'running', version: 2 });
    });

    it('record what the owner wants: start and resume → running, stop and shutdown → stopped, each forgetting the autostart record; reboot leaves it', async () => {
      const backingOff = { startAttempts: 3, nextStartAt: new Date(), lastStartError: 'Cannot access storage file' };
      const crashed = vmRow({
        name: 'crashed',
        state: 'crashed',
        autostart: true,
        desiredState: 'running',
        ...backingOff,
      });
      const running = vmRow({ name: 'running', state: 'running', autostart: true, desiredState: 'running' });
      const paused = vmRow({ name: 'paused', state: 'paused', autostart: true, desiredState: 'stopped' });
      const { service, rows, operations } = world(crashed, running, paused);

      const started = await service.action(alice, crashed.id, { action: 'start' });
      expect(started.vm).toMatchObject({
        desiredState: 'running',
        autostartAttempts: { count: 0, nextAt: null, lastError: null },
        version: 2,
      });
      const rebooted = await service.action(alice, running.id, { action: 'reboot' });
      expect(rebooted.vm).toMatchObject({ desiredState: 'running', version: 1 });
      operations.finish(rebooted.operation.id);
      await service.action(alice, running.id, { action: 'shutdown' });
      expect(rows.rows.get(running.id)).toMatchObject({ desiredState: 'stopped', version: 2 });
      await service.action(alice, paused.id, { action: 'resume' });
      expect(rows.rows.get(paused.id)).toMatchObject({ desiredState: 'running', version: 2 });
    });

    it('run one at a time: a second operation on the VM is 409 OPERATION_IN_PROGRESS until the first ends', async () => {
      const vm = vmRow({ state: 'running' });
      const { service, operations } = world(vm);
      const first = await service.action(alice, vm.id, { action: 'reboot' });
      await expect(service.action(alice, vm.id, { action: 'reset' })).rejects.toMatchObject({
        status: 409,
        code: 'OPERATION_IN_PROGRESS',
      });
      operations.finish(first.operation.id);
      await expect(service.action(alice, vm.id, { action: 'reset' })).resolves.toBeDefined();
    });

    it('someone else’s VM is 404, an admin may act on it', async () => {
      const vm = vmRow({ state: 'running' });
      const { service } = world(vm);
      await expect(service.action(bob, vm.id, { action: 'stop' })).rejects.toMatchObject({ status: 404 });
      await expect(service.action(admin, vm.id, { action: 'stop' })).resolves.toBeDefined();
    });
  });

  describe('delete', () => {
    it('marks the VM deleting (version bumped, vm.state announced) and starts vm.delete', async () => {
      const vm = vmRow({ state: 'running', version: 4 });
      const { service, operations, rows } = world(vm);
      const accepted = await service.remove(alice, vm.id);
      expect(accepted.vm).toMatchObject({ state: 'deleting', version: 5 });
      expect(accepted.operation.kind).toBe('vm.delete');
      expect(rows.rows.get(vm.id)).toMatchObject({ state: 'deleting', version: 5 });
      expect(operations.announced).toEqual([
        {
          type: 'vm.state',
          ownerId: 'alice',
          vmId: vm.id,
          payload: { vmId: vm.id, state: 'deleting', stateReason: null, version: 5 },
        },
      ]);
    });

    it('may be asked again once a delete failed half-way, not while one still runs', async () => {
      const vm = vmRow({ state: 'running' });
      const { service, operations } = world(vm);
      const first = await service.remove(alice, vm.id);
      await expect(service.remove(alice, vm.id)).rejects.toMatchObject({ code: 'OPERATION_IN_PROGRESS' });
      operations.finish(first.operation.id, 'failed');
      const again = await service.remove(alice, vm.id);
      expect(again.vm).toMatchObject({ state: 'deleting' });
    });
  });

  describe('update', () => {
    it('refuses a stale If-Match with 412 and applies a fresh one (or *)', async () => {
      const vm = vmRow({ version: 3 });
      const { service } = world(vm);
      await expect(service.update(alice, vm.id, { description: 'x' }, '"2"')).rejects.toMatchObject({
        status: 412,
        code: 'PRECONDITION_FAILED',
      });
      const fresh = (await service.update(alice, vm.id, { description: 'x' }, '"3"')) as VmDto;
      expect(fresh).toMatchObject({ description: 'x', version: 4 });
      expect(await service.update(alice, vm.id, { description: 'y' }, '*')).toMatchObject({ version: 5 });
    });

    it('answers the VM alone when nothing reaches the hypervisor, and {vm, operation} when it does', async () => {
      const vm = vmRow({ vcpus: 1 });
      const { service, operations, ledger } = world(vm);
      const described = await service.update(alice, vm.id, { description: 'web' }, undefined);
      expect(described).not.toHaveProperty('operation');
      const resized = (await service.update(alice, vm.id, { vcpus: 2 }, undefined)) as VmAcceptedDto;
      expect(operations.rows.get(resized.operation.id)).toMatchObject({ kind: 'vm.update', params: { vcpus: 2 } });
      expect(resized.vm.vcpus).toBe(2);
      expect(operations.announced.map((e) => e.type)).toEqual(['vm.updated', 'vm.updated']);
      expect((await ledger.usage('alice')).vcpus).toBe(2);
    });

    it('turns autostart on and off at once (200, vm.updated); the desired state stays what it was', async () => {
      const vm = vmRow({ version: 2, autostart: true, desiredState: 'running' });
      const { service, operations, rows } = world(vm);
      const off = await service.update(alice, vm.id, { autostart: false }, '"2"');
      expect(off).not.toHaveProperty('operation');
      expect(off).toMatchObject({ autostart: false, desiredState: 'running', version: 3 });
      expect(operations.rows.size).toBe(0);
      expect(operations.announced.map((e) => e.type)).toEqual(['vm.updated']);
      await service.update(alice, vm.id, { autostart: true }, undefined);
      expect(rows.rows.get(vm.id)).toMatchObject({ autostart: true, version: 4 });
    });

    it('refuses a hypervisor change while an operation owns the VM (409 OPERATION_IN_PROGRESS), not a description', async () => {
      const vm = vmRow({ state: 'provisioning' });
      const { service } = world(vm);
      await expect(service.update(alice, vm.id, { memoryMiB: 512 }, undefined)).rejects.toMatchObject({
        code: 'OPERATION_IN_PROGRESS',
      });
      await expect(service.update(alice, vm.id, { description: 'soon' }, undefined)).resolves.toBeDefined();
    });

    it('charges a resize of a running VM the larger of what it booted with and what it will boot with', async () => {
      const vm = vmRow({ state: 'running', vcpus: 2, runningVcpus: 2, memoryMiB: 512, runningMemoryMiB: 512 });
      const { service, ledger, hosts } = world(vm);
      await service.update(alice, vm.id, { vcpus: 1, memoryMiB: 768 }, undefined);
      // vCPUs: the domain keeps the 2 it booted with until it stops; memory grows by 256 MiB.
      expect(hosts.assertRoomToGrow).toHaveBeenCalledWith(expect.anything(), 'host-1', { vcpus: 0, memoryMiB: 256 });
      expect(await ledger.usage('alice')).toMatchObject({ vcpus: 2, memoryMiB: 768 });
    });
  });

  it('media: refused while an operation owns the VM (409 INVALID_STATE)', async () => {
    const vm = vmRow({ state: 'deleting' });
    const { service } = world(vm);
    await expect(service.insertMedia(alice, vm.id, { imageId: 'iso' })).rejects.toMatchObject({
      code: 'INVALID_STATE',
    });
    await expect(service.ejectMedia(alice, vm.id)).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });

  describe('Idempotency-Key', () => {
    const idem = { key: 'create-1', fingerprint: 'POST /api/v1/vms {a}' };

    it('replays the first answer to the same request and creates one VM', async () => {
      const { service, rows } = world();
      const first = await service.create(alice, createDto(), idem);
      const replay = await service.create(alice, createDto(), idem).catch((error: unknown) => error);
      expect(replay).toBeInstanceOf(IdempotentReplay);
      expect((replay as IdempotentReplay).response).toEqual({
        statusCode: 202,
        body: first,
        location: `/api/v1/operations/${first.operation.id}`,
      });
      expect(rows.rows.size).toBe(1);
    });

    it('refuses the key with a different request (422), and forgets a key whose request failed', async () => {
      const { service, keys } = world(vmRow({ name: 'taken' }));
      await expect(service.create(alice, createDto({ name: 'taken' }), idem)).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      expect(keys.rows.size).toBe(0);
      await service.create(alice, createDto(), idem);
      await expect(
        service.create(alice, createDto({ name: 'other' }), { ...idem, fingerprint: 'other body' }),
      ).rejects.toMatchObject({ status: 422, code: 'IDEMPOTENCY_KEY_REUSED' });
    });
  });
});
