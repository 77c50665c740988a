import { HypervisorError } from '@limen/libvirt';
import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { AuthUser } from '../auth/decorators';
import { AppException } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { USER_NETWORK_ID } from '../database/migrations/1764300000000-networks';
import { FakeTransactions } from '../database/testing/fake-transactions';
import { Tx } from '../database/transaction';
import { EventsService, NewEvent } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { FakeIdempotencyKeyRepository } from '../idempotency/testing/fake-idempotency-key-repository';
import { Operation } from '../operations/operation.entity';
import { OperationHandler, OperationRunner } from '../operations/operation-runner';
import { FakeOperationsService } from '../operations/testing/fake-operations-service';
import { FakeVmRepository, vmRow } from '../vms/testing/fake-vm-repository';
import { Vm } from '../vms/vm.entity';
import { VmAccess } from '../vms/vm-access';
import { Network } from './network.entity';
import { FakeNetworkRepository, FakeVmNicRepository, userNetworkRow } from './testing/fake-network-repositories';
import { FakePortForwardRepository } from './testing/fake-port-forward-repository';
import { VmNetworking } from './vm-networking';
import { VmNic } from './vm-nic.entity';
import { VmNicsService } from './vm-nics.service';

const alice: AuthUser = { id: 'alice', username: 'alice', role: 'user' };
const bob: AuthUser = { id: 'bob', username: 'bob', role: 'user' };
const tx = {} as Tx;

const LAB = Object.assign(userNetworkRow(), {
  id: '0a1b2c3d-0000-4000-8000-000000000001',
  name: 'lab',
  kind: 'isolated',
  cidr: '10.232.0.0/24',
  gateway: '10.232.0.1',
  dhcpStart: '10.232.0.2',
  dhcpEnd: '10.232.0.254',
  bridge: 'lnbr-0a1b2c3d',
  libvirtName: 'limen-net-0a1b2c3d',
}) as Network;
const HIDDEN = Object.assign(userNetworkRow(), { id: 'hidden', name: 'hidden', public: false }) as Network;

async function world(vm: Vm) {
  const rows = new FakeVmRepository(vm);
  const networks = new FakeNetworkRepository(userNetworkRow(), LAB, HIDDEN);
  const nics = new FakeVmNicRepository();
  const forwards = new FakePortForwardRepository();
  const keys = new FakeIdempotencyKeyRepository();
  const transactions = new FakeTransactions(rows.rows, nics.rows, keys.rows);
  const operations = new FakeOperationsService(new IdempotencyService(keys.asRepository, transactions.asTransactions));
  transactions.track(operations.rows);
  const published: NewEvent[] = [];
  const events = { publish: async (event: NewEvent) => void published.push(event) } as unknown as EventsService;
  const networking = new VmNetworking(
    { hypervisor: { vmNetwork: 'user' } } as AppConfig,
    networks.asRepository,
    nics.asRepository,
    forwards.asRepository,
  );
  const port = new FakeVirtualizationPort();
  const handlers = new Map<string, OperationHandler>();
  const runner = { register: (kind: string, handler: OperationHandler) => handlers.set(kind, handler) };
  const service = new VmNicsService(
    nics.asRepository,
    networks.asRepository,
    forwards.asRepository,
    networking,
    new VmAccess(rows.asRepository),
    rows.asRepository,
    { forVm: () => port } as unknown as HostPorts,
    operations.asService,
    runner as unknown as OperationRunner,
    events,
  );
  service.onModuleInit();
  // The VM as a create leaves it: one user-mode NIC, the domain defined (and running if the VM runs).
  await networking.attachAtCreate(tx, alice, vm.id, [{ networkId: USER_NETWORK_ID, mac: '02:00:00:00:00:01' }]);
  await port.ensureStoragePool({ name: 'limen-vms', type: 'dir', path: '/vms' });
  const disk = await port.createVolume({ pool: 'limen-vms', name: `${vm.id}-disk.qcow2`, sizeBytes: 1024 ** 3 });
  await port.defineDomain({
    vmId: vm.id,
    ownerId: vm.ownerId,
    vcpus: 1,
    memoryMiB: 256,
    disks: [{ path: disk.path }],
    serialLogPath: `/vms/${vm.id}-serial.log`,
    nics: await networking.nicSpecsFor(vm.id),
  });
  if (vm.state === 'running') await port.start(vm.id);
  const run = (op: { id: string }) => {
    const operation = operations.rows.get(op.id) as Operation;
    operations.finish(op.id);
    return handlers.get(operation.kind)!(operation);
  };
  const domainNics = async () => (await port.getDomain(vm.id)).nics.map((nic) => nic.id);
  return { service, nics, operations, port, published, run, domainNics };
}

async function problem(work: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await work;
  } catch (error) {
    if (error instanceof AppException) return { status: error.getStatus(), code: error.code };
    throw error;
  }
  throw new Error('expected a problem');
}

describe('VmNicsService', () => {
  it('lists the NICs of your VM in order; someone else’s VM is 404', async () => {
    const vm = vmRow({ state: 'stopped' });
    const { service } = await world(vm);
    expect(await service.list(alice, vm.id)).toEqual([
      expect.objectContaining({ networkId: USER_NETWORK_ID, mac: '02:00:00:00:00:01', model: 'virtio' }),
    ]);
    expect(await problem(service.list(bob, vm.id))).toMatchObject({ status: 404 });
  });

  it('hot-plugs a NIC on an isolated network into a running VM, the network made sure of on its host', async () => {
    const vm = vmRow({ state: 'running' });
    const { service, run, port, domainNics, published } = await world(vm);
    const accepted = await service.add(alice, vm.id, { networkId: LAB.id, model: 'e1000e' });
    expect(accepted.operation).toMatchObject({ kind: 'vm.nic.add', vmId: vm.id, status: 'pending' });
    expect(accepted.nic).toMatchObject({ networkId: LAB.id, model: 'e1000e' });
    expect(await run(accepted.operation)).toEqual({ nicId: accepted.nic.id, live: true });
    expect(await domainNics()).toContain(accepted.nic.id);
    expect(await port.listNetworks()).toEqual([expect.objectContaining({ name: LAB.libvirtName })]);
    expect(published).toEqual([
      expect.objectContaining({ type: 'vm.nic.added', payload: { vmId: vm.id, nic: accepted.nic } }),
    ]);
  });

  it('refuses before any operation: a user-mode NIC on a running VM (409), a 9th NIC (400), a MAC in use (409), a hidden network (404), someone else’s VM (404)', async () => {
    const vm = vmRow({ state: 'running' });
    const { service, operations, nics } = await world(vm);
    expect(await problem(service.add(alice, vm.id, { networkId: USER_NETWORK_ID }))).toEqual({
      status: 409,
      code: 'INVALID_STATE',
    });
    expect(await problem(service.add(alice, vm.id, { networkId: LAB.id, mac: '02:00:00:00:00:01' }))).toEqual({
      status: 409,
      code: 'MAC_IN_USE',
    });
    expect(await problem(service.add(alice, vm.id, { networkId: HIDDEN.id }))).toMatchObject({ status: 404 });
    expect(await problem(service.add(bob, vm.id, { networkId: LAB.id }))).toMatchObject({ status: 404 });
    for (let i = 2; i <= 8; i++)
      await nics.insertIfMacFree(
        tx,
        Object.assign(new VmNic(), {
          vmId: vm.id,
          networkId: LAB.id,
          mac: `02:00:00:00:00:0${i}`,
          model: 'virtio',
          position: i - 1,
        }),
      );
    expect(await problem(service.add(alice, vm.id, { networkId: LAB.id }))).toEqual({
      status: 400,
      code: 'VALIDATION_FAILED',
    });
    expect(operations.rows.size).toBe(0);
    expect(await nics.ofVm(vm.id)).toHaveLength(8);
  });

  it('adds a user-mode NIC to a stopped VM; a NIC the hypervisor refuses is taken away again', async () => {
    const vm = vmRow({ state: 'stopped' });
    const { service, run, port, nics, domainNics } = await world(vm);
    const added = await service.add(alice, vm.id, { networkId: USER_NETWORK_ID });
    expect(await run(added.operation)).toEqual({ nicId: added.nic.id, live: false });
    expect(await domainNics()).toHaveLength(2);
    const refused = await service.add(alice, vm.id, { networkId: LAB.id });
    port.failNext('attachNic', new HypervisorError('INVALID_ARGUMENT', 'no'));
    await expect(run(refused.operation)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await nics.ofVm(vm.id)).map((nic) => nic.id)).toEqual(expect.not.arrayContaining([refused.nic.id]));
  });

  it('removes a NIC (unplugged live), keeps the last one (409), and a NIC of another VM is 404', async () => {
    const vm = vmRow({ state: 'running' });
    const { service, run, nics, domainNics, published } = await world(vm);
    const [first] = await nics.ofVm(vm.id);
    expect(await problem(service.remove(alice, vm.id, first.id))).toEqual({ status: 409, code: 'CONFLICT' });
    const added = await service.add(alice, vm.id, { networkId: LAB.id });
    await run(added.operation);
    expect(await problem(service.remove(alice, vm.id, first.id))).toEqual({ status: 409, code: 'INVALID_STATE' });
    expect(await problem(service.remove(alice, vm.id, '00000000-0000-4000-8000-00000000000f'))).toMatchObject({
      status: 404,
    });
    expect(await problem(service.remove(bob, vm.id, added.nic.id))).toMatchObject({ status: 404 });
    const removing = await service.remove(alice, vm.id, added.nic.id);
    expect(removing.operation).toMatchObject({ kind: 'vm.nic.remove' });
    expect(await run(removing.operation)).toEqual({ nicId: added.nic.id, live: true });
    expect(await domainNics()).toEqual([first.id]);
    expect(await nics.ofVm(vm.id)).toHaveLength(1);
    expect(published.at(-1)).toMatchObject({ type: 'vm.nic.removed', payload: { vmId: vm.id, nicId: added.nic.id } });
  });
});
