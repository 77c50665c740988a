import { randomUUID } from 'node:crypto';
import { PageQueryDto } from '../../common/page-query.dto';
import { Tx } from '../../database/transaction';
import { USER_NETWORK_ID } from '../../database/migrations/1764300000000-networks';
import { Network } from '../network.entity';
import { NetworkRepository } from '../network.repository';
import { VmNic } from '../vm-nic.entity';
import { VmNicRepository } from '../vm-nic.repository';
import { cidrsOverlap } from '../network-addresses';

/** The built-in `user` network as the migration inserts it. */
export function userNetworkRow(): Network {
  return Object.assign(new Network(), {
    id: USER_NETWORK_ID,
    name: 'user',
    kind: 'user',
    description: '',
    cidr: null,
    gateway: null,
    dhcpStart: null,
    dhcpEnd: null,
    bridge: null,
    vlan: null,
    libvirtName: null,
    public: true,
    createdAt: new Date(0),
  });
}

/** NetworkRepository in memory, for unit specs: the unique name, generated ids, the overlap test. */
export class FakeNetworkRepository {
  readonly rows = new Map<string, Network>();
  locks = 0;

  constructor(...networks: Network[]) {
    for (const network of networks.length ? networks : [userNetworkRow()]) this.rows.set(network.id, network);
  }

  async page(_page: PageQueryDto, includePrivate: boolean): Promise<{ items: Network[]; nextCursor: string | null }> {
    const items = [...this.rows.values()].filter((n) => includePrivate || n.public).map((n) => this.copy(n));
    return { items: items.reverse(), nextCursor: null };
  }

  async find(id: string, _tx?: Tx): Promise<Network | null> {
    const network = this.rows.get(id);
    return network ? this.copy(network) : null;
  }

  async findByName(name: string, _tx?: Tx): Promise<Network | null> {
    const network = [...this.rows.values()].find((n) => n.name === name);
    return network ? this.copy(network) : null;
  }

  async findMany(ids: string[], _tx?: Tx): Promise<Network[]> {
    return [...this.rows.values()].filter((n) => ids.includes(n.id)).map((n) => this.copy(n));
  }

  findForAttach(_tx: Tx, id: string): Promise<Network | null> {
    return this.find(id);
  }

  findForUpdate(_tx: Tx, id: string): Promise<Network | null> {
    return this.find(id);
  }

  async lockAll(_tx: Tx): Promise<void> {
    this.locks++;
  }

  async overlapping(_tx: Tx, cidr: string): Promise<Network[]> {
    return [...this.rows.values()].filter((n) => n.cidr && cidrsOverlap(n.cidr, cidr)).map((n) => this.copy(n));
  }

  async insertIfNameFree(_tx: Tx, network: Network): Promise<boolean> {
    if ([...this.rows.values()].some((n) => n.name === network.name)) return false;
    Object.assign(network, { id: network.id ?? randomUUID(), createdAt: new Date() });
    this.rows.set(network.id, this.copy(network));
    return true;
  }

  async delete(_tx: Tx, id: string): Promise<void> {
    this.rows.delete(id);
  }

  /** Typed as the real one, for constructors. */
  get asRepository(): NetworkRepository {
    return this as unknown as NetworkRepository;
  }

  private copy(network: Network): Network {
    return Object.assign(new Network(), network);
  }
}

/** VmNicRepository in memory, for unit specs: the unique MAC, generated ids and timestamps. */
export class FakeVmNicRepository {
  readonly rows = new Map<string, VmNic>();

  async ofVm(vmId: string, _tx?: Tx): Promise<VmNic[]> {
    return [...this.rows.values()]
      .filter((nic) => nic.vmId === vmId)
      .sort((a, b) => a.position - b.position)
      .map((nic) => this.copy(nic));
  }

  async ofVms(vmIds: string[], _tx?: Tx): Promise<VmNic[]> {
    return (await Promise.all(vmIds.map((id) => this.ofVm(id)))).flat();
  }

  async find(id: string, _tx?: Tx): Promise<VmNic | null> {
    const nic = this.rows.get(id);
    return nic ? this.copy(nic) : null;
  }

  async findOfVm(vmId: string, id: string, _tx?: Tx): Promise<VmNic | null> {
    const nic = await this.find(id);
    return nic?.vmId === vmId ? nic : null;
  }

  async macInUse(mac: string, _tx?: Tx): Promise<boolean> {
    return [...this.rows.values()].some((nic) => nic.mac === mac.toLowerCase());
  }

  async insertIfMacFree(_tx: Tx, nic: VmNic): Promise<boolean> {
    if (await this.macInUse(nic.mac)) return false;
    Object.assign(nic, { id: nic.id ?? randomUUID(), createdAt: new Date() });
    this.rows.set(nic.id, this.copy(nic));
    return true;
  }

  async countOnNetwork(networkId: string, _tx?: Tx): Promise<number> {
    return [...this.rows.values()].filter((nic) => nic.networkId === networkId).length;
  }

  async delete(id: string, _tx?: Tx): Promise<void> {
    this.rows.delete(id);
  }

  /** Typed as the real one, for constructors. */
  get asRepository(): VmNicRepository {
    return this as unknown as VmNicRepository;
  }

  private copy(nic: VmNic): VmNic {
    return Object.assign(new VmNic(), nic);
  }
}
