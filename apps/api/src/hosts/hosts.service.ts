import { HttpStatus, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { HostMetrics } from '@limen/agent-contract';
import { AgentClient } from '../agent-proxy/agent-client';
import { AppConfig } from '../config/app-config';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { AppException, ErrorCode } from '../common/problem';
import { LeaderElection } from '../database/leader-election';
import { EventsService } from '../events/events.service';
import { CHARGED_MEMORY_MIB_SQL, CHARGED_VCPUS_SQL } from '../quotas/quota-ledger';
import { CreateHostDto, UpdateHostDto } from './dto/host.dto';
import { Host } from './host.entity';
import { HostPorts } from './host-ports';
import { HostSecrets } from './host-secrets';

const CHECK_TIMEOUT_MS = 5_000;
const GIB = 1024 ** 3;
const AGENT_TIMEOUT_MS = 3_000;
/** VM states a host outage leaves alone: an operation owns those VMs. */
const OWNED_BY_OPERATION = ['provisioning', 'deleting'];

type CapacityHost = Pick<Host, 'id' | 'name' | 'enabled' | 'maintenance' | 'status' | 'cpus' | 'memoryMiB'>;

export interface Allocation {
  vcpus: number;
  memoryMiB: number;
  vms: number;
}

/**
 * Registered hypervisor hosts: the local one (registered on first start),
 * admin CRUD, a monitor that marks hosts up or down (and their VMs `unknown`
 * while down), and placement of new VMs.
 */
@Injectable()
export class HostsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Hosts');
  private timer?: NodeJS.Timeout;
  /** Memory each host's agent last reported available, by host id; the scheduler never places beyond it. */
  private readonly agentAvailableMiB = new Map<string, number>();

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly ports: HostPorts,
    private readonly secrets: HostSecrets,
    private readonly leader: LeaderElection,
    private readonly events: EventsService,
    private readonly localAgent: AgentClient,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const local = await this.registerLocal();
    await this.dataSource.query(`UPDATE vms SET host_id = $1 WHERE host_id IS NULL`, [local.id]);
    await this.reload();
    await this.monitor();
    this.timer = setInterval(
      () => void this.monitor().catch((e) => this.logger.warn(`host monitor failed: ${(e as Error).message}`)),
      this.config.reconcileIntervalSeconds * 1000,
    );
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** The machine this api runs on, as configured (adapter, URI, agent); never overwritten later. */
  private async registerLocal(): Promise<Host> {
    const { hypervisor } = this.config;
    await this.dataSource.query(
      `INSERT INTO hosts (name, adapter, libvirt_uri, state_dir, agent_url, agent_token_encrypted) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING`,
      [
        this.config.hostName,
        hypervisor.adapter,
        hypervisor.adapter === 'libvirt' ? hypervisor.libvirtUri : null,
        hypervisor.adapter === 'qemu-direct' ? hypervisor.qemuStateDir : null,
        this.config.agent.url,
        this.config.agent.token ? this.secrets.encrypt(this.config.agent.token) : null,
      ],
    );
    return this.dataSource.manager.findOneByOrFail(Host, { name: this.config.hostName });
  }

  private async reload(): Promise<void> {
    const hosts = await this.dataSource.manager.find(Host, { order: { name: 'ASC' } });
    const local = hosts.find((h) => h.name === this.config.hostName);
    this.ports.refresh(hosts, local?.id ?? '');
  }

  /**
   * Asks every enabled host for its capabilities. Each replica refreshes its
   * cache; only the leader records status changes, so events are raised once.
   */
  async monitor(): Promise<void> {
    await this.reload();
    for (const { host, port } of this.ports.enabled()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        const caps = await Promise.race([
          port.getHostCapabilities(),
          new Promise<never>(
            (_, reject) =>
              (timer = setTimeout(
                () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
                CHECK_TIMEOUT_MS,
              )),
          ),
        ]);
        if (this.leader.isLeader) await this.markUp(host, caps.cpus, caps.memoryMiB);
      } catch (error) {
        if (this.leader.isLeader) await this.markDown(host, (error as Error).message);
      } finally {
        clearTimeout(timer);
      }
      await this.readAgent(host);
    }
    await this.reload();
  }

  /**
   * The host's own view of its free memory, from its agent: the local host's through the
   * configured AgentClient, others' with their stored token. No agent, or none answering,
   * leaves placement to capabilities and allocations alone.
   */
  private async readAgent(host: Host): Promise<void> {
    try {
      let metrics: HostMetrics;
      if (host.id === this.ports.localId && !host.agentTokenEncrypted) metrics = await this.localAgent.metrics();
      else if (host.agentUrl && host.agentTokenEncrypted) {
        const res = await fetch(`${host.agentUrl}/metrics`, {
          headers: {
            authorization: `Bearer ${this.secrets.decrypt(host.agentTokenEncrypted)}`,
            accept: 'application/json',
          },
          signal: AbortSignal.timeout(AGENT_TIMEOUT_MS),
          redirect: 'manual', // the token goes to agentUrl and nowhere else
        });
        if (res.status !== 200) throw new Error(`answered ${res.status}`);
        metrics = (await res.json()) as HostMetrics;
      } else {
        this.agentAvailableMiB.delete(host.id);
        return;
      }
      if (typeof metrics.memory?.availableBytes !== 'number') throw new Error('no memory.availableBytes');
      this.agentAvailableMiB.set(host.id, Math.floor(metrics.memory.availableBytes / 1024 / 1024));
    } catch {
      this.agentAvailableMiB.delete(host.id);
    }
  }

  private async markUp(host: Host, cpus: number, memoryMiB: number): Promise<void> {
    await this.dataSource.query(
      `UPDATE hosts SET status = 'up', status_reason = NULL, cpus = $2, memory_mib = $3, last_seen_at = now(), updated_at = now() WHERE id = $1`,
      [host.id, cpus, memoryMiB],
    );
    if (host.status === 'down') {
      this.logger.log(`host ${host.name} is back`);
      await this.events.publish({ type: 'host.up', ownerId: null, payload: { hostId: host.id, name: host.name } });
    }
  }

  /** The host's VMs become `unknown`: their real state cannot be known until it answers again. */
  private async markDown(host: Host, reason: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE hosts SET status = 'down', status_reason = $2, updated_at = now() WHERE id = $1`,
      [host.id, reason],
    );
    if (host.status === 'down') return;
    this.logger.error(`host ${host.name} is down: ${reason}`);
    const [vms]: [Array<{ id: string; owner_id: string }>, number] = await this.dataSource.query(
      `UPDATE vms SET state = 'unknown', state_reason = $2, version = version + 1, updated_at = now()
       WHERE host_id = $1 AND state <> 'unknown' AND NOT (state = ANY($3::text[])) RETURNING id, owner_id`,
      [host.id, `host ${host.name} is unreachable`, OWNED_BY_OPERATION],
    );
    for (const vm of vms)
      await this.events.publish({
        type: 'vm.state',
        ownerId: vm.owner_id,
        vmId: vm.id,
        payload: { vmId: vm.id, state: 'unknown', stateReason: `host ${host.name} is unreachable` },
      });
    await this.events.publish({
      type: 'host.down',
      ownerId: null,
      payload: { hostId: host.id, name: host.name, reason },
    });
  }

  async list(
    page: PageQueryDto,
  ): Promise<{ items: Array<{ host: Host; allocated: Allocation }>; nextCursor: string | null }> {
    const hosts = await paginate(this.dataSource.manager.createQueryBuilder(Host, 'host'), page);
    const allocations = await this.allocations(this.dataSource.manager);
    return {
      items: hosts.items.map((host) => ({
        host,
        allocated: allocations.get(host.id) ?? { vcpus: 0, memoryMiB: 0, vms: 0 },
      })),
      nextCursor: hosts.nextCursor,
    };
  }

  async get(id: string): Promise<Host> {
    const host = await this.dataSource.manager.findOneBy(Host, { id });
    if (!host) throw AppException.notFound('Host');
    return host;
  }

  async create(dto: CreateHostDto): Promise<Host> {
    if (dto.adapter === 'libvirt' && !dto.libvirtUri)
      throw this.invalid('libvirtUri', 'libvirtUri is required for the libvirt adapter');
    if (dto.adapter === 'qemu-direct' && !dto.stateDir)
      throw this.invalid('stateDir', 'stateDir is required for the qemu-direct adapter');
    try {
      const host = await this.dataSource.manager.save(
        this.dataSource.manager.create(Host, {
          name: dto.name,
          adapter: dto.adapter,
          libvirtUri: dto.adapter === 'libvirt' ? dto.libvirtUri! : null,
          stateDir: dto.adapter === 'qemu-direct' ? dto.stateDir! : null,
          agentUrl: dto.agentUrl ?? null,
          agentTokenEncrypted: dto.agentToken ? this.secrets.encrypt(dto.agentToken) : null,
          enabled: dto.enabled ?? true,
          maintenance: dto.maintenance ?? false,
        }),
      );
      await this.monitor();
      return this.get(host.id);
    } catch (error) {
      if (error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '23505') {
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, `A host named ${dto.name} exists`);
      }
      throw error;
    }
  }

  /**
   * The stored agent token only ever goes to the URL it was given with: a new `agentUrl` must
   * come with its `agentToken` in the same request, and `agentUrl: null` (no agent) drops the
   * token too. Otherwise whoever can change the URL could collect the token there.
   */
  async update(id: string, dto: UpdateHostDto): Promise<Host> {
    const host = await this.get(id);
    const changes: Partial<Host> = {};
    if (dto.enabled !== undefined) changes.enabled = dto.enabled;
    if (dto.maintenance !== undefined) changes.maintenance = dto.maintenance;
    if (dto.agentUrl !== undefined && dto.agentUrl !== host.agentUrl) {
      if (dto.agentUrl === null) changes.agentTokenEncrypted = null;
      else if (dto.agentToken === undefined)
        throw this.invalid('agentToken', 'agentToken must be sent again whenever agentUrl changes');
      changes.agentUrl = dto.agentUrl;
    }
    if (dto.agentToken !== undefined) changes.agentTokenEncrypted = this.secrets.encrypt(dto.agentToken);
    if (Object.keys(changes).length) await this.dataSource.manager.update(Host, { id }, changes);
    await this.reload();
    return this.get(id);
  }

  async remove(id: string): Promise<void> {
    const host = await this.get(id);
    if (host.name === this.config.hostName)
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, 'The local host cannot be removed');
    const [{ count }] = await this.dataSource.query(`SELECT count(*)::int AS count FROM vms WHERE host_id = $1`, [id]);
    if (count > 0)
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, `The host still holds ${count} VM(s)`);
    await this.dataSource.manager.delete(Host, { id });
    await this.reload();
  }

  /**
   * Chooses the host for a new VM inside the caller's transaction. Host rows are
   * locked, so concurrent placements see each other's allocations. Capacity is
   * the host's CPUs and memory times the overcommit ratios, minus what its VMs
   * already hold, and never more memory than its agent last reported available;
   * the host with the most free memory wins. An admin may name one.
   */
  async place(
    manager: EntityManager,
    request: { vcpus: number; memoryMiB: number },
    requestedHostId?: string,
  ): Promise<string> {
    const { hosts, free } = await this.capacity(manager);
    const fits = (host: CapacityHost) =>
      host.enabled &&
      host.status === 'up' &&
      free(host).vcpus >= request.vcpus &&
      free(host).memoryMiB >= request.memoryMiB;
    if (requestedHostId) {
      const host = hosts.find((h) => h.id === requestedHostId);
      if (!host) throw this.invalid('hostId', 'hostId does not name a registered host');
      if (!fits(host))
        throw new AppException(
          HttpStatus.CONFLICT,
          ErrorCode.INSUFFICIENT_CAPACITY,
          `Host ${host.name} is ${host.enabled ? host.status : 'disabled'} or lacks room for this VM`,
        );
      return host.id;
    }
    const candidates = hosts
      .filter((h) => !h.maintenance && fits(h))
      .sort((a, b) => free(b).memoryMiB - free(a).memoryMiB);
    if (!candidates.length)
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.INSUFFICIENT_CAPACITY,
        'No enabled host has room for this VM',
      );
    return candidates[0].id;
  }

  /**
   * A resize that makes a VM hold `growth` more on its host passes the same capacity check as a
   * placement there, inside the caller's transaction (409 INSUFFICIENT_CAPACITY otherwise). A
   * resource that does not grow is not checked: shrinking never needs room.
   */
  async assertRoomToGrow(
    manager: EntityManager,
    hostId: string | null,
    growth: { vcpus: number; memoryMiB: number },
  ): Promise<void> {
    if (growth.vcpus <= 0 && growth.memoryMiB <= 0) return;
    const { hosts, free } = await this.capacity(manager);
    const host = hosts.find((h) => h.id === hostId);
    if (!host)
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INSUFFICIENT_CAPACITY, 'The VM has no host to grow on');
    const room = free(host);
    if (
      !host.enabled ||
      host.status !== 'up' ||
      (growth.vcpus > 0 && room.vcpus < growth.vcpus) ||
      (growth.memoryMiB > 0 && room.memoryMiB < growth.memoryMiB)
    ) {
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.INSUFFICIENT_CAPACITY,
        `Host ${host.name} is ${host.enabled ? host.status : 'disabled'} or lacks room for this VM's new size`,
      );
    }
  }

  /**
   * A new disk must fit in what the filesystem of the host's VM_DIR has free now, at its full
   * virtual size times DISK_OVERCOMMIT_PERCENT / 100 (507 INSUFFICIENT_STORAGE otherwise). Disks
   * are thin and nothing is set aside: this refuses what the host could never hold, it does not
   * promise room for what others write.
   */
  async assertStorageRoom(hostId: string, diskBytes: number): Promise<void> {
    const available = await this.ports.forHost(hostId).getAvailableBytes(this.config.hypervisor.vmDir);
    if (diskBytes * 100 > available * this.config.diskOvercommitPercent) {
      throw new AppException(
        HttpStatus.INSUFFICIENT_STORAGE,
        ErrorCode.INSUFFICIENT_STORAGE,
        `The host has no room for a disk of ${Math.ceil(diskBytes / GIB)} GiB`,
      );
    }
  }

  /**
   * The hosts, locked so concurrent placements see each other's allocations, and what each has
   * free: its CPUs and memory times the overcommit ratios, minus what its VMs already hold, and
   * never more memory than its agent last reported available.
   */
  private async capacity(
    manager: EntityManager,
  ): Promise<{ hosts: CapacityHost[]; free: (host: CapacityHost) => { vcpus: number; memoryMiB: number } }> {
    const hosts = (await manager.query(
      `SELECT id, name, enabled, maintenance, status, cpus, memory_mib AS "memoryMiB" FROM hosts ORDER BY name FOR UPDATE`,
    )) as CapacityHost[];
    const allocations = await this.allocations(manager);
    const free = (host: CapacityHost) => {
      const used = allocations.get(host.id) ?? { vcpus: 0, memoryMiB: 0, vms: 0 };
      const byAllocation =
        Math.floor(((host.memoryMiB ?? 0) * this.config.memoryOvercommitPercent) / 100) - used.memoryMiB;
      return {
        vcpus: Math.floor(((host.cpus ?? 0) * this.config.cpuOvercommitPercent) / 100) - used.vcpus,
        memoryMiB: Math.min(byAllocation, this.agentAvailableMiB.get(host.id) ?? Number.POSITIVE_INFINITY),
      };
    };
    return { hosts, free };
  }

  private async allocations(manager: EntityManager): Promise<Map<string, Allocation>> {
    const rows: Array<{ host_id: string; vcpus: number; memory: number; vms: number }> = await manager.query(
      `SELECT host_id, sum(${CHARGED_VCPUS_SQL})::int AS vcpus, sum(${CHARGED_MEMORY_MIB_SQL})::int AS memory, count(*)::int AS vms FROM vms WHERE host_id IS NOT NULL GROUP BY host_id`,
    );
    return new Map(rows.map((r) => [r.host_id, { vcpus: r.vcpus, memoryMiB: r.memory, vms: r.vms }]));
  }

  private invalid(field: string, message: string): AppException {
    return new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, message, {
      errors: [{ field, messages: [message] }],
    });
  }
}
