import { Logger } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { AgentClient } from '../agent-proxy/agent-client';
import { AppConfig } from '../config/app-config';
import { LeaderElection } from '../database/leader-election';
import { EventsService, NewEvent } from '../events/events.service';
import { FakeVmRepository, vmRow } from '../vms/testing/fake-vm-repository';
import { VmState } from '../vms/vm-state';
import { VmStateWriter } from '../vms/vm-state-writer';
import { HostAgents } from './host-agents';
import { HostMonitor } from './host-monitor';
import { HostSecrets } from './host-secrets';
import { HostStorage } from './host-storage';
import { FakeHostPorts, FakeHostRepository, hostRow } from './testing/fake-hosts';

const CONFIG = {
  jwtSecret: 'unit-test-secret-unit-test-secret',
  reconcileIntervalSeconds: 60,
  hostName: 'local',
  hypervisor: { vmDir: '/var/lib/limen/vms', vmPool: 'limen-vms', storageRoots: ['/var/lib/limen'] },
} as AppConfig;
const MIB = 1024 * 1024;
const DOWN = 'the fake hypervisor is down';

/** Two hosts (the local one, not checked yet, and a remote one that was up), the VMs on them, and the events raised. */
class FakeWorld {
  readonly hosts = new FakeHostRepository(
    hostRow('local', { status: 'unknown' }),
    hostRow('remote', { libvirtUri: 'qemu+tls://remote/system', storagePath: '/var/lib/limen/pool' }),
  );
  readonly vms = new FakeVmRepository();
  readonly ports = new FakeHostPorts(
    this.hosts,
    () => new FakeVirtualizationPort({ capabilities: { cpus: 8, memoryMiB: 16384 } }),
    'id-local',
  );
  readonly events: NewEvent[] = [];
  readonly eventsService = {
    publish: async (event: NewEvent) => void this.events.push(event),
  } as unknown as EventsService;

  vm(id: string, hostId: string, state: VmState): void {
    this.vms.rows.set(id, vmRow({ id, hostId, state, ownerId: `owner-of-${id}` }));
  }

  monitor(options: { leader?: boolean; localAgent?: Partial<AgentClient> } = {}) {
    const agents = new HostAgents((options.localAgent ?? {}) as AgentClient, new HostSecrets(CONFIG));
    const monitor = new HostMonitor(
      CONFIG,
      this.hosts.asRepository,
      this.ports.asPorts,
      new HostStorage(CONFIG, this.ports.asPorts),
      agents,
      { isLeader: options.leader ?? true } as LeaderElection,
      this.eventsService,
      new VmStateWriter(this.vms.asRepository, this.eventsService),
      new SchedulerRegistry(),
    );
    return { monitor, agents };
  }
}

describe('HostMonitor', () => {
  let world: FakeWorld;
  const remote = () => world.ports.forHost('id-remote');

  beforeAll(() => Logger.overrideLogger(false));

  beforeEach(() => {
    world = new FakeWorld();
    world.vm('running', 'id-remote', 'running');
    world.vm('stopped', 'id-remote', 'stopped');
    world.vm('creating', 'id-remote', 'provisioning');
    world.vm('elsewhere', 'id-local', 'running');
  });

  it('records a host that answers as up, with the CPUs and memory it reports', async () => {
    await world.monitor().monitor.check();
    expect(world.hosts.rows.get('id-local')).toEqual(
      expect.objectContaining({ status: 'up', statusReason: null, cpus: 8, memoryMiB: 16384 }),
    );
    expect(world.events).toEqual([]);
  });

  it('marks a host that stops answering down, and its VMs unknown with their version bumped, once', async () => {
    const { monitor } = world.monitor();
    remote().setUnavailable(true);
    await monitor.check();

    expect(world.hosts.rows.get('id-remote')).toEqual(expect.objectContaining({ status: 'down', statusReason: DOWN }));
    const reason = 'host remote is unreachable';
    expect(world.events).toEqual([
      {
        type: 'vm.state',
        ownerId: 'owner-of-running',
        vmId: 'running',
        payload: { vmId: 'running', state: 'unknown', stateReason: reason, version: 2 },
      },
      {
        type: 'vm.state',
        ownerId: 'owner-of-stopped',
        vmId: 'stopped',
        payload: { vmId: 'stopped', state: 'unknown', stateReason: reason, version: 2 },
      },
      { type: 'host.down', ownerId: null, payload: { hostId: 'id-remote', name: 'remote', reason: DOWN } },
    ]);
    expect(world.vms.rows.get('running')).toEqual(
      expect.objectContaining({ state: 'unknown', stateReason: reason, version: 2 }),
    );
    // An operation owns a VM being created; another host's VMs are not touched.
    expect(world.vms.rows.get('creating')).toEqual(expect.objectContaining({ state: 'provisioning', version: 1 }));
    expect(world.vms.rows.get('elsewhere')).toEqual(expect.objectContaining({ state: 'running', version: 1 }));

    // Still down on the next round: nothing new is raised.
    world.events.length = 0;
    await monitor.check();
    expect(world.events).toEqual([]);
  });

  it('marks a host that answers again up, and says so', async () => {
    const { monitor } = world.monitor();
    remote().setUnavailable(true);
    await monitor.check();
    world.events.length = 0;

    remote().setUnavailable(false);
    await monitor.check();
    expect(world.hosts.rows.get('id-remote')).toEqual(expect.objectContaining({ status: 'up', statusReason: null }));
    expect(world.events).toEqual([
      { type: 'host.up', ownerId: null, payload: { hostId: 'id-remote', name: 'remote' } },
    ]);
  });

  it("defines each host's VM pool and records its pools as the host reports them, keeping the last reading while it is down", async () => {
    const { monitor } = world.monitor();
    await monitor.check();
    const reading = world.hosts.rows.get('id-remote')!.storage!;
    expect(reading).toEqual({
      pools: [expect.objectContaining({ name: 'limen-vms', path: '/var/lib/limen/pool', active: true })],
      checkedAt: expect.any(String),
      problem: null,
    });
    expect(reading.pools[0].capacityBytes).toBeGreaterThan(0);
    expect(reading.pools[0].availableBytes).toBeGreaterThan(0);
    expect(world.hosts.rows.get('id-local')!.storage!.pools).toEqual([
      expect.objectContaining({ name: 'limen-vms', path: '/var/lib/limen/vms' }),
    ]);

    remote().setUnavailable(true);
    await monitor.check();
    expect(world.hosts.rows.get('id-remote')!.storage).toEqual(reading);
  });

  it('records why a VM pool could not be set up (a pool of that name elsewhere on the host)', async () => {
    await remote().ensureStoragePool({ name: 'limen-vms', type: 'dir', path: '/var/lib/limen/other' });
    await world.monitor().monitor.check();
    expect(world.hosts.rows.get('id-remote')!.storage).toEqual(
      expect.objectContaining({
        pools: [expect.objectContaining({ path: '/var/lib/limen/other' })],
        problem: expect.stringMatching(/^the VM pool could not be set up: /),
      }),
    );
  });

  it('leaves pool readings to the leader too', async () => {
    await world.monitor({ leader: false }).monitor.check();
    expect(world.hosts.rows.get('id-remote')!.storage).toBeNull();
  });

  it('asks disabled hosts nothing', async () => {
    world.hosts.rows.get('id-remote')!.enabled = false;
    await world.monitor().monitor.check();
    expect(remote().calls).toEqual([]);
  });

  it('leaves status changes to the leader', async () => {
    remote().setUnavailable(true);
    await world.monitor({ leader: false }).monitor.check();
    expect(world.hosts.rows.get('id-remote')!.status).toBe('up');
    expect(world.hosts.rows.get('id-local')!.status).toBe('unknown');
    expect(world.vms.rows.get('running')!.state).toBe('running');
    expect(world.events).toEqual([]);
  });

  it("keeps the memory each host's agent reports available, and forgets it when the agent stops answering", async () => {
    let available: number | Error = 3 * 1024 * MIB + 123;
    const localAgent = {
      metrics: async () => {
        if (available instanceof Error) throw available;
        return { memory: { availableBytes: available } };
      },
    } as unknown as AgentClient;
    const { monitor, agents } = world.monitor({ localAgent });
    await monitor.check();
    expect(agents.lastAvailableMiB('id-local')).toBe(3072);
    expect(agents.lastAvailableMiB('id-remote')).toBeUndefined(); // no agent registered for it

    available = new Error('the agent at http://127.0.0.1:9000 is unreachable: ECONNREFUSED');
    await monitor.check();
    expect(agents.lastAvailableMiB('id-local')).toBeUndefined();
  });
});
