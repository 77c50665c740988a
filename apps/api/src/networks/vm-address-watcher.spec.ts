import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import type { NicSpec } from '@limen/libvirt';
import { LeaderJobs } from '../database/leader-jobs';
import { Tx } from '../database/transaction';
import { USER_NETWORK_ID } from '../database/migrations/1764300000000-networks';
import { EventsService, NewEvent } from '../events/events.service';
import { Host } from '../hosts/host.entity';
import { HostPorts } from '../hosts/host-ports';
import { FakeVmRepository, vmRow } from '../vms/testing/fake-vm-repository';
import { Vm } from '../vms/vm.entity';
import { Network } from './network.entity';
import { FakeNetworkRepository, FakeVmNicRepository, userNetworkRow } from './testing/fake-network-repositories';
import { FAST_REFRESH_SECONDS, FULL_REFRESH_SECONDS, VmAddressWatcher } from './vm-address-watcher';
import { VmNic } from './vm-nic.entity';

const LAN_ID = '7b0e4a55-8e8f-4c3a-9a57-0e2f6d1c0a01';
const LAN = 'limen-net-7b0e4a55';
const USER_MAC = '02:00:00:00:01:01';
const LAN_MAC = '02:00:00:00:01:02';

function lan(): Network {
  return Object.assign(userNetworkRow(), {
    id: LAN_ID,
    name: 'lan',
    kind: 'isolated',
    cidr: '10.77.0.0/24',
    libvirtName: LAN,
  });
}

function world(...vms: Vm[]) {
  const rows = new FakeVmRepository(...vms);
  const nics = new FakeVmNicRepository();
  const networks = new FakeNetworkRepository(userNetworkRow(), lan());
  const port = new FakeVirtualizationPort();
  const published: NewEvent[] = [];
  const events = { publish: async (event: NewEvent) => void published.push(event) } as unknown as EventsService;
  const host = { id: 'host-1', name: 'one', status: 'up', enabled: true } as Host;
  const hostPorts = {
    localPort: port,
    opened$: { subscribe: () => ({ unsubscribe: () => undefined }) },
    enabled: () => [{ host, port }],
    forVm: () => port,
  } as unknown as HostPorts;
  const jobs = { every: jest.fn() } as unknown as LeaderJobs;
  const watcher = new VmAddressWatcher(
    hostPorts,
    rows.asRepository,
    nics.asRepository,
    networks.asRepository,
    events,
    jobs,
  );
  const addresses = () => published.filter((e) => e.type === 'vm.addresses').map((e) => e.payload);
  return { watcher, rows, nics, port, published, addresses, host };
}

type World = ReturnType<typeof world>;

/** The VM's NICs (a user-mode one, and one on the isolated network `lan`) in the database and its domain. */
async function boot(
  w: World,
  vm: Vm,
  options: { agent?: boolean; start?: boolean; macs?: [string, string] } = {},
): Promise<NicSpec[]> {
  const specs: NicSpec[] = [];
  const [userMac, lanMac] = options.macs ?? [USER_MAC, LAN_MAC];
  for (const [position, [networkId, mac]] of [
    [USER_NETWORK_ID, userMac],
    [LAN_ID, lanMac],
  ].entries()) {
    const nic = Object.assign(new VmNic(), { vmId: vm.id, networkId, mac, model: 'virtio', position });
    await w.nics.insertIfMacFree({} as Tx, nic);
    specs.push({
      id: nic.id,
      mac,
      attachment: networkId === USER_NETWORK_ID ? { type: 'user' } : { type: 'network', network: LAN },
    });
  }
  await w.port.ensureNetwork({
    name: LAN,
    kind: 'isolated',
    bridge: 'lnbr-7b0e4a55',
    cidr: '10.77.0.0/24',
    gateway: '10.77.0.1',
    dhcpStart: '10.77.0.2',
    dhcpEnd: '10.77.0.254',
  });
  await w.port.defineDomain({
    vmId: vm.id,
    ownerId: vm.ownerId,
    vcpus: 1,
    memoryMiB: 128,
    disks: [],
    serialLogPath: `/vms/${vm.id}/serial.log`,
    nics: specs,
  });
  if (options.agent)
    w.port.setGuestAgent(vm.id, {
      addresses: [
        { mac: '00:00:00:00:00:00', ip: '127.0.0.1', prefix: 8, family: 'ipv4', name: 'lo' },
        { mac: userMac, ip: '10.0.2.15', prefix: 24, family: 'ipv4', name: 'eth0' },
        { mac: lanMac, ip: '10.77.0.23', prefix: 24, family: 'ipv4', name: 'eth1' },
      ],
    });
  w.port.setLeases(LAN, options.agent ? [{ mac: lanMac, ip: '10.77.0.23', prefix: 24 }] : []);
  if (options.start !== false) await w.port.start(vm.id);
  return specs;
}

describe('VmAddressWatcher', () => {
  it('reports the lease of a managed network at once and the agent’s addresses once it connects, with the OS', async () => {
    const vm = vmRow({ state: 'running', hostId: 'host-1' });
    const w = world(vm);
    const [user, isolated] = await boot(w, vm, { start: false });
    w.port.setLeases(LAN, [{ mac: LAN_MAC, ip: '10.77.0.23', prefix: 24 }]);
    await w.port.start(vm.id);
    await w.watcher.onEvent(w.port, {
      kind: 'lifecycle',
      domainName: 'x',
      vmId: vm.id,
      type: 'started',
      detail: 'booted',
      timestamp: new Date(),
    });
    expect(w.rows.rows.get(vm.id)).toMatchObject({
      addresses: [{ nicId: isolated.id, mac: LAN_MAC, ip: '10.77.0.23', prefix: 24, family: 'ipv4', source: 'lease' }],
      guestAgent: 'disconnected',
      os: null,
      version: 2,
    });
    expect(w.addresses()).toEqual([
      expect.objectContaining({
        vmId: vm.id,
        guestAgent: 'disconnected',
        version: 2,
        addresses: [expect.objectContaining({ source: 'lease' })],
      }),
    ]);

    w.port.setGuestAgent(vm.id, {
      addresses: [{ mac: USER_MAC, ip: '10.0.2.15', prefix: 24, family: 'ipv4', name: 'eth0' }],
    });
    await w.watcher.onEvent(w.port, {
      kind: 'other',
      domainName: 'x',
      vmId: vm.id,
      name: 'agent-lifecycle',
      detail: 'connected',
      timestamp: new Date(),
    });
    expect(w.rows.rows.get(vm.id)).toMatchObject({
      addresses: [
        { nicId: user.id, ip: '10.0.2.15', source: 'agent' },
        { nicId: isolated.id, ip: '10.77.0.23', source: 'lease' },
      ],
      guestAgent: 'connected',
      os: { name: 'Debian GNU/Linux', version: '12 (bookworm)', kernel: '6.1.0-28-cloud-amd64' },
    });
    // Nothing new: no write, no event.
    const version = w.rows.rows.get(vm.id)!.version;
    await w.watcher.onEvent(w.port, {
      kind: 'other',
      domainName: 'x',
      vmId: vm.id,
      name: 'agent-lifecycle',
      detail: 'connected',
      timestamp: new Date(),
    });
    expect(w.rows.rows.get(vm.id)!.version).toBe(version);
    expect(w.addresses()).toHaveLength(2);
  });

  it('clears the addresses of a VM that stops, its agent as the domain says', async () => {
    const vm = vmRow({ state: 'running', hostId: 'host-1' });
    const w = world(vm);
    await boot(w, vm, { agent: true });
    await w.watcher.sweep();
    expect(w.rows.rows.get(vm.id)!.addresses).toHaveLength(2);
    await w.port.destroy(vm.id);
    await w.watcher.onEvent(w.port, {
      kind: 'lifecycle',
      domainName: 'x',
      vmId: vm.id,
      type: 'stopped',
      detail: 'destroyed',
      timestamp: new Date(),
    });
    expect(w.rows.rows.get(vm.id)).toMatchObject({ addresses: [], guestAgent: 'disconnected' });
    expect(w.rows.rows.get(vm.id)!.os).not.toBeNull();
    expect(w.addresses().at(-1)).toMatchObject({ vmId: vm.id, addresses: [], guestAgent: 'disconnected' });
  });

  it('sweeps: reads the agent state once from the domains, then refreshes VMs without an address every tick and the rest every 30 s', async () => {
    const [a, b] = [vmRow({ state: 'running', hostId: 'host-1' }), vmRow({ state: 'running', hostId: 'host-1' })];
    const w = world(a, b);
    await boot(w, a, { agent: true });
    const start = Date.now();
    await w.watcher.sweep(start);
    expect(w.rows.rows.get(a.id)).toMatchObject({
      guestAgent: 'connected',
      addresses: [
        { ip: '10.0.2.15', source: 'agent' },
        { ip: '10.77.0.23', source: 'lease' },
      ],
    });
    expect(w.port.calls.filter((c) => c.method === 'listDomains')).toHaveLength(1);

    // b's domain appears later, without an agent, and gets a lease: the next tick sees it (it has no address yet).
    w.port.calls.length = 0;
    await boot(w, b, { macs: ['02:00:00:00:02:01', '02:00:00:00:02:02'] });
    w.port.setLeases(LAN, [
      { mac: LAN_MAC, ip: '10.77.0.23', prefix: 24 },
      { mac: '02:00:00:00:02:02', ip: '10.77.0.40', prefix: 24 },
    ]);
    await w.watcher.sweep(start + FAST_REFRESH_SECONDS * 1000);
    expect(w.rows.rows.get(b.id)!.addresses).toEqual([expect.objectContaining({ ip: '10.77.0.40', source: 'lease' })]);
    // a has addresses and was refreshed just now: neither its agent nor listDomains was asked.
    expect(w.port.calls.map((c) => c.method).filter((m) => m !== 'getDhcpLeases')).not.toContain('listDomains');
    expect(w.port.calls.filter((c) => c.method === 'getInterfaceAddresses')).toEqual([]);
    expect(w.port.calls.filter((c) => c.method === 'getDhcpLeases')).toHaveLength(1);

    w.port.calls.length = 0;
    await w.watcher.sweep(start + FULL_REFRESH_SECONDS * 1000);
    expect(w.port.calls.filter((c) => c.method === 'getInterfaceAddresses').map((c) => c.args[0])).toEqual([a.id]);
    expect(w.port.calls.filter((c) => c.method === 'getDhcpLeases')).toHaveLength(1);
  });

  it('a sweep never writes back a view an event’s refresh replaced after the sweep read its VMs (the agent stays connected)', async () => {
    const vm = vmRow({ state: 'running', hostId: 'host-1' });
    const w = world(vm);
    await boot(w, vm, { agent: true });
    await w.watcher.sweep(); // the resync: the agent state from the domain
    w.rows.rows.set(vm.id, Object.assign(new Vm(), w.rows.rows.get(vm.id)!, { guestAgent: 'absent', os: null }));
    // As in CI: the sweep reads its running VMs (guestAgent still `absent`, as a VM that was not yet
    // running at its `started` event keeps), then the agent connects before the sweep refreshes them.
    const read = w.rows.runningOnHost.bind(w.rows);
    w.rows.runningOnHost = async (hostId: string) => {
      const snapshot = await read(hostId);
      await w.watcher.onEvent(w.port, {
        kind: 'other',
        domainName: 'x',
        vmId: vm.id,
        name: 'agent-lifecycle',
        detail: 'connected',
        timestamp: new Date(),
      });
      expect(w.rows.rows.get(vm.id)).toMatchObject({ guestAgent: 'connected', os: { name: 'Debian GNU/Linux' } });
      return snapshot;
    };
    await w.watcher.sweep(Date.now() + FULL_REFRESH_SECONDS * 1000);
    expect(w.rows.rows.get(vm.id)).toMatchObject({ guestAgent: 'connected', os: { name: 'Debian GNU/Linux' } });
  });

  it('marks the agent disconnected when it stops answering, and clears stale VMs that are not running', async () => {
    const vm = vmRow({ state: 'running', hostId: 'host-1' });
    const stale = vmRow({
      state: 'stopped',
      hostId: 'host-1',
      guestAgent: 'connected',
      addresses: [{ nicId: 'n', mac: LAN_MAC, ip: '10.77.0.9', prefix: 24, family: 'ipv4', source: 'lease' }],
    });
    const w = world(vm, stale);
    await boot(w, vm, { agent: true });
    await w.watcher.sweep();
    w.port.setGuestAgent(vm.id, null);
    w.port.setLeases(LAN, []);
    await w.watcher.sweep(Date.now() + FULL_REFRESH_SECONDS * 1000);
    expect(w.rows.rows.get(vm.id)).toMatchObject({ guestAgent: 'disconnected', addresses: [] });
    expect(w.rows.rows.get(stale.id)).toMatchObject({ guestAgent: 'absent', addresses: [] });
  });

  it('leaves VMs it does not know, and VMs being deleted, alone', async () => {
    const deleting = vmRow({ state: 'deleting', hostId: 'host-1' });
    const w = world(deleting);
    await w.watcher.onEvent(w.port, {
      kind: 'lifecycle',
      domainName: 'x',
      vmId: 'someone-elses',
      type: 'started',
      detail: 'booted',
      timestamp: new Date(),
    });
    await w.watcher.onEvent(w.port, {
      kind: 'lifecycle',
      domainName: 'x',
      vmId: deleting.id,
      type: 'stopped',
      detail: 'destroyed',
      timestamp: new Date(),
    });
    expect(w.published).toEqual([]);
    expect(w.rows.rows.get(deleting.id)!.version).toBe(1);
  });
});
