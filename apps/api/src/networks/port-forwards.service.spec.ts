import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { HypervisorError, type PortProtocol } from '@limen/libvirt';
import { AuditService } from '../audit/audit.service';
import { AuthUser } from '../auth/decorators';
import { AppConfig } from '../config/app-config';
import { FakeTransactions } from '../database/testing/fake-transactions';
import { Tx } from '../database/transaction';
import { USER_NETWORK_ID } from '../database/migrations/1764300000000-networks';
import { HostPorts } from '../hosts/host-ports';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { FakeIdempotencyKeyRepository } from '../idempotency/testing/fake-idempotency-key-repository';
import { Operation } from '../operations/operation.entity';
import { OperationHandler, OperationRunner } from '../operations/operation-runner';
import { FakeOperationsService } from '../operations/testing/fake-operations-service';
import { FakeVmRepository, vmRow } from '../vms/testing/fake-vm-repository';
import { Vm } from '../vms/vm.entity';
import { VmAccess } from '../vms/vm-access';
import { HostPortProbe } from './host-port-probe';
import { Network } from './network.entity';
import { PortForwardAllocator } from './port-forward-allocator';
import { PortForwardOperations } from './port-forward-operations';
import { PortForwardsService } from './port-forwards.service';
import { FakeNetworkRepository, FakeVmNicRepository, userNetworkRow } from './testing/fake-network-repositories';
import { FakePortForwardRepository } from './testing/fake-port-forward-repository';
import { VmNic } from './vm-nic.entity';

const alice: AuthUser = { id: 'alice', username: 'alice', role: 'user' };
const bob: AuthUser = { id: 'bob', username: 'bob', role: 'user' };
const admin: AuthUser = { id: 'root', username: 'admin', role: 'admin' };
const NAT_ID = '7b0e4a55-8e8f-4c3a-9a57-0e2f6d1c0a01';

function natNetwork(): Network {
  return Object.assign(userNetworkRow(), { id: NAT_ID, name: 'lan', kind: 'nat', cidr: '10.77.0.0/24' });
}

function world(options: { range?: [number, number]; busy?: number[]; vms?: Vm[] } = {}) {
  const [from, to] = options.range ?? [20000, 20004];
  const vms = new FakeVmRepository(...(options.vms ?? [vmRow({ id: 'vm-1', state: 'running', hostId: 'local' })]));
  const networks = new FakeNetworkRepository(userNetworkRow(), natNetwork());
  const nics = new FakeVmNicRepository();
  const forwards = new FakePortForwardRepository();
  const keys = new FakeIdempotencyKeyRepository();
  const transactions = new FakeTransactions(vms.rows, keys.rows, forwards.rows);
  const operations = new FakeOperationsService(new IdempotencyService(keys.asRepository, transactions.asTransactions));
  transactions.track(operations.rows);
  const config = { portForwards: { from, to, address: '127.0.0.1' } } as AppConfig;
  const port = new FakeVirtualizationPort();
  const hostPorts = { localId: 'local', forVm: () => port } as unknown as HostPorts;
  const probed: number[] = [];
  const probe = {
    isFree: async (_address: string, hostPort: number) => (probed.push(hostPort), !options.busy?.includes(hostPort)),
  } as HostPortProbe;
  const allocator = new PortForwardAllocator(config, hostPorts, probe, forwards.asRepository, networks.asRepository);
  const audit = { annotate: jest.fn() } as unknown as AuditService;
  const service = new PortForwardsService(
    allocator,
    new VmAccess(vms.asRepository),
    networks.asRepository,
    nics.asRepository,
    forwards.asRepository,
    operations.asService,
    audit,
  );
  const handlers = new Map<string, OperationHandler>();
  const runner = { register: (kind: string, handler: OperationHandler) => handlers.set(kind, handler) };
  new PortForwardOperations(
    hostPorts,
    runner as unknown as OperationRunner,
    vms.asRepository,
    forwards.asRepository,
  ).onModuleInit();
  const run = (id: string) => {
    const op = operations.rows.get(id) as Operation;
    return handlers.get(op.kind)!(op);
  };
  return { service, allocator, vms, nics, forwards, operations, port, probed, run, audit };
}

type World = ReturnType<typeof world>;

async function nic(w: World, vmId: string, position: number, networkId = USER_NETWORK_ID): Promise<VmNic> {
  const row = Object.assign(new VmNic(), {
    vmId,
    networkId,
    mac: `02:00:00:00:0${position}:01`,
    model: 'virtio',
    position,
  });
  await w.nics.insertIfMacFree({} as Tx, row);
  return row;
}

/** The VM's domain on the fake hypervisor with its NICs (user-mode ones as such), running. */
async function domainOf(w: World, vm: Vm, nics: VmNic[]): Promise<void> {
  await w.port.defineDomain({
    vmId: vm.id,
    ownerId: vm.ownerId,
    vcpus: 1,
    memoryMiB: 128,
    disks: [],
    serialLogPath: `/vms/${vm.id}/serial.log`,
    nics: nics.map((n) => ({
      id: n.id,
      mac: n.mac,
      attachment:
        n.networkId === USER_NETWORK_ID ? { type: 'user' } : { type: 'network', network: 'limen-net-7b0e4a55' },
    })),
  });
  await w.port.start(vm.id);
}

async function userForwards(w: World, vmId: string, nicId: string) {
  const attachment = (await w.port.getDomain(vmId)).nics.find((n) => n.id === nicId)!.attachment;
  return attachment.type === 'user'
    ? (attachment.portForwards ?? []).map((f) => [f.protocol, f.hostPort, f.guestPort])
    : [];
}

describe('PortForwardsService', () => {
  it("allocates the lowest free host port in the request, names it in the answer, and the operation adds it to the VM's first user-mode NIC", async () => {
    const w = world();
    const [nat, user] = [await nic(w, 'vm-1', 0, NAT_ID), await nic(w, 'vm-1', 1)];
    await domainOf(w, w.vms.rows.get('vm-1')!, [nat, user]);
    const accepted = await w.service.add(alice, 'vm-1', { guestPort: 22 });
    expect(accepted.portForward).toMatchObject({
      nicId: user.id,
      protocol: 'tcp',
      guestPort: 22,
      hostAddress: '127.0.0.1',
      hostPort: 20000,
    });
    expect(w.operations.rows.get(accepted.operation.id)).toMatchObject({
      kind: 'vm.port-forward.add',
      ownerId: 'alice',
      vmId: 'vm-1',
      params: {
        forwardId: accepted.portForward.id,
        nicId: user.id,
        protocol: 'tcp',
        guestPort: 22,
        hostAddress: '127.0.0.1',
        hostPort: 20000,
      },
    });
    expect(await w.run(accepted.operation.id)).toEqual({
      portForwardId: accepted.portForward.id,
      hostPort: 20000,
      config: true,
      live: true,
    });
    expect(await userForwards(w, 'vm-1', user.id)).toEqual([['tcp', 20000, 22]]);
    // A re-run after a crash finds the forward there and adds nothing.
    expect(await w.run(accepted.operation.id)).toMatchObject({ config: true, live: false });
    expect(await userForwards(w, 'vm-1', user.id)).toEqual([['tcp', 20000, 22]]);
  });

  it('skips ports held by forwards and by other processes; tcp and udp have their own ports', async () => {
    const w = world({ busy: [20001] });
    const user = await nic(w, 'vm-1', 0);
    const ports = [];
    for (const [guestPort, protocol] of [
      [22, 'tcp'],
      [80, 'tcp'],
      [53, 'udp'],
    ] as Array<[number, PortProtocol]>) {
      const accepted = await w.service.add(alice, 'vm-1', { guestPort, protocol, nicId: user.id });
      w.operations.rows.get(accepted.operation.id)!.status = 'succeeded';
      ports.push([protocol, accepted.portForward.hostPort]);
    }
    expect(ports).toEqual([
      ['tcp', 20000],
      ['tcp', 20002],
      ['udp', 20000],
    ]);
  });

  it('does not probe the host for a VM on another host', async () => {
    const w = world({ vms: [vmRow({ id: 'vm-1', state: 'stopped', hostId: 'elsewhere' })], busy: [20000] });
    await nic(w, 'vm-1', 0);
    expect((await w.service.add(alice, 'vm-1', { guestPort: 22 })).portForward.hostPort).toBe(20000);
    expect(w.probed).toEqual([]);
  });

  it('answers 409 PORT_RANGE_EXHAUSTED when no port is left, and keeps nothing', async () => {
    const w = world({ range: [20000, 20001], busy: [20001] });
    await nic(w, 'vm-1', 0);
    const first = await w.service.add(alice, 'vm-1', { guestPort: 22 });
    w.operations.rows.get(first.operation.id)!.status = 'succeeded';
    await expect(w.service.add(alice, 'vm-1', { guestPort: 80 })).rejects.toMatchObject({
      status: 409,
      code: 'PORT_RANGE_EXHAUSTED',
      detail: expect.stringMatching(/No tcp host port is free in 20000-20001/),
    });
    expect(w.forwards.rows.size).toBe(1);
  });

  it('retries the next port when a concurrent request took the one it chose', async () => {
    const w = world();
    const user = await nic(w, 'vm-1', 0);
    const vm = w.vms.rows.get('vm-1')!;
    // Between reading the ports in use and inserting, another transaction commits 20000.
    const realInsert = w.forwards.insertIfFree.bind(w.forwards);
    let raced = false;
    w.forwards.insertIfFree = async (tx, forward) => {
      if (!raced) {
        raced = true;
        await realInsert(
          tx,
          Object.assign(Object.create(forward), { ...forward, vmId: 'other', nicId: 'other-nic', guestPort: 1 }),
        );
      }
      return realInsert(tx, forward);
    };
    const forward = await w.allocator.allocate({} as Tx, vm, user, { guestPort: 22 });
    expect(forward.hostPort).toBe(20001);
  });

  it('refuses a second forward of the same guest port and protocol on the NIC (409 CONFLICT)', async () => {
    const w = world();
    const user = await nic(w, 'vm-1', 0);
    const first = await w.service.add(alice, 'vm-1', { guestPort: 22 });
    w.operations.rows.get(first.operation.id)!.status = 'succeeded';
    await expect(w.service.add(alice, 'vm-1', { guestPort: 22, nicId: user.id })).rejects.toMatchObject({
      status: 409,
      code: 'CONFLICT',
    });
    await w.service.add(alice, 'vm-1', { guestPort: 22, protocol: 'udp' });
  });

  it('needs a user-mode NIC (409), one of the VM’s (404), and a VM in a usable state (409)', async () => {
    const w = world({
      vms: [
        vmRow({ id: 'vm-1', state: 'running' }),
        vmRow({ id: 'vm-2', state: 'running' }),
        vmRow({ id: 'vm-3', state: 'missing' }),
      ],
    });
    const nat = await nic(w, 'vm-1', 0, NAT_ID);
    const other = await nic(w, 'vm-2', 1);
    await nic(w, 'vm-3', 2);
    await expect(w.service.add(alice, 'vm-1', { guestPort: 22 })).rejects.toMatchObject({
      status: 409,
      detail: expect.stringMatching(/no user-mode NIC/),
    });
    await expect(w.service.add(alice, 'vm-1', { guestPort: 22, nicId: nat.id })).rejects.toMatchObject({
      status: 409,
      detail: expect.stringMatching(/need a user-mode NIC/),
    });
    await expect(w.service.add(alice, 'vm-1', { guestPort: 22, nicId: other.id })).rejects.toMatchObject({
      status: 404,
      detail: 'NIC not found',
    });
    await expect(w.service.add(alice, 'vm-3', { guestPort: 22 })).rejects.toMatchObject({
      status: 409,
      code: 'INVALID_STATE',
    });
    expect(w.forwards.rows.size).toBe(0);
  });

  it("hides another user's VM and forwards (404); an admin acts for the owner", async () => {
    const w = world();
    await nic(w, 'vm-1', 0);
    const accepted = await w.service.add(alice, 'vm-1', { guestPort: 22 });
    w.operations.rows.get(accepted.operation.id)!.status = 'succeeded';
    await expect(w.service.list(bob, 'vm-1')).rejects.toMatchObject({ status: 404 });
    await expect(w.service.add(bob, 'vm-1', { guestPort: 80 })).rejects.toMatchObject({
      status: 404,
      detail: 'VM not found',
    });
    await expect(w.service.remove(bob, 'vm-1', accepted.portForward.id)).rejects.toMatchObject({ status: 404 });
    await expect(w.service.remove(alice, 'vm-1', '9e1c1d3c-0000-4000-8000-000000000000')).rejects.toMatchObject({
      status: 404,
      detail: 'Port forward not found',
    });
    const removal = await w.service.remove(admin, 'vm-1', accepted.portForward.id);
    expect(w.operations.rows.get(removal.operation.id)).toMatchObject({
      kind: 'vm.port-forward.remove',
      ownerId: 'alice',
    });
    expect(w.audit.annotate).toHaveBeenCalledWith({ targetId: accepted.portForward.id });
  });

  it('a remove takes the forward off the VM, then frees its port; a failed add frees it too', async () => {
    const w = world();
    const user = await nic(w, 'vm-1', 0);
    await domainOf(w, w.vms.rows.get('vm-1')!, [user]);
    const added = await w.service.add(alice, 'vm-1', { guestPort: 22 });
    await w.run(added.operation.id);
    w.operations.rows.get(added.operation.id)!.status = 'succeeded';
    const removal = await w.service.remove(alice, 'vm-1', added.portForward.id);
    expect(w.forwards.rows.size).toBe(1); // still held until the VM lets go of it
    expect(await w.run(removal.operation.id)).toMatchObject({ config: true, live: true });
    expect(await userForwards(w, 'vm-1', user.id)).toEqual([]);
    expect(w.forwards.rows.size).toBe(0);
    expect(await w.run(removal.operation.id)).toMatchObject({ portForwardId: added.portForward.id }); // again: fine
    w.operations.rows.get(removal.operation.id)!.status = 'succeeded';

    w.port.failNext('addPortForward', new HypervisorError('HYPERVISOR_UNAVAILABLE', 'libvirtd is gone'));
    const failing = await w.service.add(alice, 'vm-1', { guestPort: 22 });
    await expect(w.run(failing.operation.id)).rejects.toMatchObject({ code: 'HYPERVISOR_UNAVAILABLE' });
    expect(w.forwards.rows.size).toBe(0);
  });
});
