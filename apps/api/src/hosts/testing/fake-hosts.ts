import { VirtualizationPort } from '@limen/libvirt';
import { Tx } from '../../database/transaction';
import { Host, HostStorageRecord } from '../host.entity';
import { HostPort, HostPorts } from '../host-ports';
import { CapacityHost, HostRepository } from '../host.repository';

/** A host row with sensible defaults (up, enabled, 4 CPUs, 8 GiB), for specs. */
export function hostRow(name: string, fields: Partial<Host> = {}): Host {
  return Object.assign(new Host(), {
    id: `id-${name}`,
    name,
    adapter: 'libvirt',
    libvirtUri: 'qemu:///system',
    stateDir: null,
    storagePath: null,
    storage: null,
    agentUrl: null,
    agentTokenEncrypted: null,
    enabled: true,
    maintenance: false,
    status: 'up',
    statusReason: null,
    cpus: 4,
    memoryMiB: 8192,
    lastSeenAt: null,
    ...fields,
  });
}

/** HostRepository in memory, for unit specs: the rows, and how often placement locked them. */
export class FakeHostRepository {
  readonly rows = new Map<string, Host>();
  locks = 0;

  constructor(...hosts: Host[]) {
    for (const host of hosts) this.rows.set(host.id, host);
  }

  async all(): Promise<Host[]> {
    return [...this.rows.values()].sort((a, b) => a.name.localeCompare(b.name)).map((h) => this.copy(h));
  }

  async find(id: string): Promise<Host | null> {
    const host = this.rows.get(id);
    return host ? this.copy(host) : null;
  }

  async markUp(id: string, cpus: number, memoryMiB: number): Promise<void> {
    this.change(id, { status: 'up', statusReason: null, cpus, memoryMiB, lastSeenAt: new Date() });
  }

  async recordStorage(id: string, storage: HostStorageRecord): Promise<void> {
    this.change(id, { storage });
  }

  async markDown(id: string, reason: string): Promise<void> {
    this.change(id, { status: 'down', statusReason: reason });
  }

  async lockForPlacement(_tx: Tx): Promise<CapacityHost[]> {
    this.locks++;
    return (await this.all()).map(({ id, name, enabled, maintenance, status, cpus, memoryMiB, storage }) => ({
      id,
      name,
      enabled,
      maintenance,
      status,
      cpus,
      memoryMiB,
      storage,
    }));
  }

  /** Typed as the real one, for constructors. */
  get asRepository(): HostRepository {
    return this as unknown as HostRepository;
  }

  private change(id: string, changes: Partial<Host>): void {
    const host = this.rows.get(id);
    if (!host) throw new Error(`no host ${id}`);
    this.rows.set(id, Object.assign(this.copy(host), changes, { updatedAt: new Date() }));
  }

  private copy(host: Host): Host {
    return Object.assign(new Host(), host);
  }
}

/**
 * HostPorts over a FakeHostRepository: each host gets its own port from `newPort` (a
 * FakeVirtualizationPort in specs), created on first use and kept in `ports`.
 */
export class FakeHostPorts<P extends VirtualizationPort> {
  readonly ports = new Map<string, P>();
  private cached: Host[] = [];

  constructor(
    private readonly rows: FakeHostRepository,
    private readonly newPort: () => P,
    readonly localId: string | null = null,
  ) {}

  async reload(): Promise<void> {
    this.cached = await this.rows.all();
  }

  host(hostId: string): Host | undefined {
    return this.rows.rows.get(hostId);
  }

  forHost(hostId: string): P {
    let port = this.ports.get(hostId);
    if (!port) this.ports.set(hostId, (port = this.newPort()));
    return port;
  }

  /** The port of the VM's host; a VM without one is on the local host, as with HostPorts. */
  forVm(vm: { hostId: string | null }): P {
    return this.forHost(vm.hostId ?? this.localId ?? 'local');
  }

  enabled(): HostPort[] {
    return this.cached.filter((h) => h.enabled).map((host) => ({ host, port: this.forHost(host.id) }));
  }

  /** Typed as the real one, for constructors. */
  get asPorts(): HostPorts {
    return this as unknown as HostPorts;
  }
}
