import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { HypervisorError, VirtualizationPort } from '@limen/libvirt';
import { AuditService } from '../audit/audit.service';
import { AuthUser } from '../auth/decorators';
import { PageQueryDto } from '../common/page-query.dto';
import { AppException, ErrorCode } from '../common/problem';
import { USER_NETWORK_ID } from '../database/migrations/1764300000000-networks';
import { Transactions, Tx } from '../database/transaction';
import { HostPort, HostPorts } from '../hosts/host-ports';
import { invalidField } from '../hosts/invalid-field';
import { CreateNetworkDto, NetworkDto } from './dto/network.dto';
import { Network } from './network.entity';
import { networkDefinitionOf } from './network-definition';
import { cidrsOverlap, libvirtNamesFor, LOOPBACK_CIDR, parseSubnet, planAddresses } from './network-addresses';
import { NetworkRepository } from './network.repository';
import { VmNicRepository } from './vm-nic.repository';

/** The fields of a network row a create decides, before it has an id. */
type NetworkFields = Omit<Network, 'id' | 'createdAt' | 'libvirtName'>;

const MANAGED_KINDS: ReadonlySet<string> = new Set(['nat', 'isolated']);

function conflict(detail: string): AppException {
  return new AppException(HttpStatus.CONFLICT, ErrorCode.NETWORK_CONFLICT, detail);
}

/**
 * The rules of networks: admins create and delete them, everyone lists the public ones. A nat or
 * isolated network is defined on every online host while its row is being inserted, in one
 * transaction: a failure anywhere takes it off the hosts again and leaves no row.
 */
@Injectable()
export class NetworksService {
  private readonly logger = new Logger('NetworksService');

  constructor(
    private readonly networks: NetworkRepository,
    private readonly nics: VmNicRepository,
    private readonly transactions: Transactions,
    private readonly hostPorts: HostPorts,
    private readonly audit: AuditService,
  ) {}

  list(user: AuthUser, page: PageQueryDto): Promise<{ items: Network[]; nextCursor: string | null }> {
    return this.networks.page(page, user.role === 'admin');
  }

  /** A non-public network is 404 to anyone but an admin. */
  async get(user: AuthUser, id: string): Promise<Network> {
    const network = await this.networks.find(id);
    if (!network || (!network.public && user.role !== 'admin')) throw AppException.notFound('Network');
    return network;
  }

  async create(dto: CreateNetworkDto): Promise<Network> {
    const fields = this.fieldsOf(dto);
    const hosts = this.onlineHosts();
    if (fields.kind === 'bridge') await this.assertBridgeOnHosts(hosts, fields.bridge!);
    if (fields.cidr) await this.assertNoHostRoute(hosts, fields.cidr);
    const network = await this.transactions.run(async (tx) => {
      await this.networks.lockAll(tx);
      if (await this.networks.findByName(fields.name, tx))
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, `A network named ${fields.name} exists`);
      if (fields.cidr) await this.assertNoOverlap(tx, fields.cidr);
      const row = await this.insertRow(tx, fields);
      if (row.libvirtName) await this.defineOnHosts(hosts, row);
      return row;
    });
    this.audit.annotate({ targetId: network.id, after: { ...NetworkDto.from(network) } });
    return network;
  }

  /** Refused while a NIC uses it (409 NETWORK_IN_USE); off every host first, then the row. */
  async remove(id: string): Promise<void> {
    if (id === USER_NETWORK_ID)
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, 'The built-in user network cannot be deleted');
    const network = await this.transactions.run(async (tx) => {
      await this.networks.lockAll(tx);
      const row = await this.networks.findForUpdate(tx, id);
      if (!row) throw AppException.notFound('Network');
      const used = await this.nics.countOnNetwork(id, tx);
      if (used > 0)
        throw new AppException(
          HttpStatus.CONFLICT,
          ErrorCode.NETWORK_IN_USE,
          `The network is used by ${used} NIC(s); remove them first`,
        );
      await this.networks.delete(tx, id);
      if (row.libvirtName) await this.removeFromHosts(this.onlineHosts(), row.libvirtName);
      return row;
    });
    this.audit.annotate({ targetId: id, before: { ...NetworkDto.from(network) } });
  }

  /** The row's fields from the request: each kind takes its own fields and refuses the others' (400). */
  private fieldsOf(dto: CreateNetworkDto): NetworkFields {
    const managed = MANAGED_KINDS.has(dto.kind);
    const allowed: Record<string, boolean> = {
      cidr: managed,
      gateway: managed,
      dhcpStart: managed,
      dhcpEnd: managed,
      bridge: dto.kind === 'bridge',
      vlan: dto.kind === 'bridge',
    };
    for (const [field, ok] of Object.entries(allowed)) {
      if (!ok && dto[field as keyof CreateNetworkDto] !== undefined)
        throw invalidField(field, `${field} does not apply to a ${dto.kind} network`);
    }
    const base: NetworkFields = {
      name: dto.name,
      kind: dto.kind,
      description: dto.description ?? '',
      cidr: null,
      gateway: null,
      dhcpStart: null,
      dhcpEnd: null,
      bridge: dto.bridge ?? null,
      vlan: dto.vlan ?? null,
      public: dto.public ?? true,
    };
    if (dto.kind === 'bridge' && !dto.bridge) throw invalidField('bridge', 'a bridge network needs bridge');
    if (!managed) return base;
    if (!dto.cidr) throw invalidField('cidr', `a ${dto.kind} network needs cidr`);
    const subnet = parseSubnet(dto.cidr);
    if ('problem' in subnet) throw invalidField('cidr', subnet.problem);
    const plan = planAddresses(subnet, { gateway: dto.gateway, dhcpStart: dto.dhcpStart, dhcpEnd: dto.dhcpEnd });
    if (plan && 'field' in plan) throw invalidField(plan.field, plan.message);
    return { ...base, cidr: subnet.cidr, ...plan! };
  }

  /**
   * Inserts the row under a fresh id. The libvirt names take 8 hex digits of it: on the rare clash
   * with another network's (the unique key skips the insert), another id.
   */
  private async insertRow(tx: Tx, fields: NetworkFields): Promise<Network> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = Object.assign(new Network(), fields, { id: randomUUID(), libvirtName: null });
      if (MANAGED_KINDS.has(row.kind)) {
        const names = libvirtNamesFor(row.id);
        Object.assign(row, { libvirtName: names.name, bridge: names.bridge });
      }
      if (await this.networks.insertIfNameFree(tx, row)) return row;
    }
    throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, `A network named ${fields.name} exists`);
  }

  /** Enabled hosts not known to be down: where a network is defined at once (others get it with their first VM on it). */
  private onlineHosts(): HostPort[] {
    return this.hostPorts.enabled().filter(({ host }) => host.status !== 'down');
  }

  private async assertBridgeOnHosts(hosts: HostPort[], bridge: string): Promise<void> {
    for (const { host, port } of hosts) {
      if (!(await port.hasBridge(bridge)))
        throw invalidField('bridge', `host ${host.name} has no bridge named ${bridge}`);
    }
  }

  private async assertNoHostRoute(hosts: HostPort[], cidr: string): Promise<void> {
    if (cidrsOverlap(cidr, LOOPBACK_CIDR)) throw conflict(`${cidr} overlaps the loopback network ${LOOPBACK_CIDR}`);
    for (const { host, port } of hosts) {
      const route = (await port.listHostRoutes()).find((r) => cidrsOverlap(cidr, r));
      if (route) throw conflict(`${cidr} overlaps ${route}, which host ${host.name} already reaches`);
    }
  }

  private async assertNoOverlap(tx: Tx, cidr: string): Promise<void> {
    const [other] = await this.networks.overlapping(tx, cidr);
    if (other) throw conflict(`${cidr} overlaps network ${other.name} (${other.cidr})`);
  }

  /** Defines the network on each host in turn; on a failure, takes it off those done and rethrows. */
  private async defineOnHosts(hosts: HostPort[], network: Network): Promise<void> {
    const done: HostPort[] = [];
    try {
      for (const host of hosts) {
        if (await this.ensureOn(host.port, network)) done.push(host);
      }
    } catch (error) {
      await this.removeFromHosts(done, network.libvirtName!, true);
      throw error;
    }
  }

  /** False where the adapter has no managed networks (qemu-direct): a VM placed there cannot use it. */
  private async ensureOn(port: VirtualizationPort, network: Network): Promise<boolean> {
    try {
      await port.ensureNetwork(networkDefinitionOf(network));
      return true;
    } catch (error) {
      if (HypervisorError.is(error, 'UNSUPPORTED')) return false;
      throw error;
    }
  }

  private async removeFromHosts(hosts: HostPort[], name: string, bestEffort = false): Promise<void> {
    for (const { host, port } of hosts) {
      try {
        await port.removeNetwork(name);
      } catch (error) {
        if (HypervisorError.is(error, 'UNSUPPORTED')) continue;
        if (!bestEffort) throw error;
        this.logger.warn(`Could not remove network ${name} from host ${host.name}: ${(error as Error).message}`);
      }
    }
  }
}
