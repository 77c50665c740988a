import { HttpStatus, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { PageQueryDto } from '../common/page-query.dto';
import { AppException, ErrorCode } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { isUniqueViolation } from '../database/pg-errors';
import { withTimeout } from '../common/with-timeout';
import { HostAllocation, VmRepository } from '../vms/vm.repository';
import { CreateHostDto, UpdateHostDto } from './dto/host.dto';
import { Host, HostStorageRecord } from './host.entity';
import { defaultStoragePath, effectiveStoragePath, isOnApiMachine, urlIsThisMachine } from './host-locality';
import { HostMonitor } from './host-monitor';
import { HostPorts } from './host-ports';
import { HostSecrets } from './host-secrets';
import { HostChanges, HostRepository } from './host.repository';
import { invalidField } from './invalid-field';
import { storagePathProblem, symlinkProblem } from './storage-path';

const NOTHING_ALLOCATED: HostAllocation = { vcpus: 0, memoryMiB: 0, vms: 0 };
/** GET /hosts/{id} reads the pools live, but never waits longer than this for a host that is slow or down. */
const LIVE_STORAGE_TIMEOUT_MS = 3_000;

/** A host as shown: its effective VM pool folder and its storage, live or as last recorded. */
export interface HostView {
  host: Host;
  storagePath: string;
  storage: HostStorageRecord | null;
}

/**
 * The registered hypervisor hosts: the local one (registered on first start, then the monitor
 * starts) and the admin's CRUD. Agent tokens are stored encrypted (HostSecrets).
 */
@Injectable()
export class HostRegistry implements OnApplicationBootstrap {
  constructor(
    private readonly config: AppConfig,
    private readonly hosts: HostRepository,
    private readonly vms: VmRepository,
    private readonly ports: HostPorts,
    private readonly secrets: HostSecrets,
    private readonly monitor: HostMonitor,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const local = await this.registerLocal();
    await this.vms.assignUnplacedTo(local.id);
    await this.monitor.start();
  }

  /** The machine this api runs on, as configured (adapter, URI, agent); never overwritten later. */
  private registerLocal(): Promise<Host> {
    const { hypervisor, agent } = this.config;
    return this.hosts.registerIfAbsent({
      name: this.config.hostName,
      adapter: hypervisor.adapter,
      libvirtUri: hypervisor.adapter === 'libvirt' ? hypervisor.libvirtUri : null,
      stateDir: hypervisor.adapter === 'qemu-direct' ? hypervisor.qemuStateDir : null,
      agentUrl: agent.url,
      agentTokenEncrypted: agent.token ? this.secrets.encrypt(agent.token) : null,
    });
  }

  /** The hosts with what their VMs hold and their storage as the monitor last recorded it (no host is asked). */
  async list(
    page: PageQueryDto,
  ): Promise<{ items: Array<HostView & { allocated: HostAllocation }>; nextCursor: string | null }> {
    const hosts = await this.hosts.page(page);
    const allocations = await this.vms.allocationsByHost();
    return {
      items: hosts.items.map((host) => ({
        ...this.view(host),
        allocated: allocations.get(host.id) ?? NOTHING_ALLOCATED,
      })),
      nextCursor: hosts.nextCursor,
    };
  }

  /**
   * One host with its pools read from it now; a host that does not answer in time shows what the
   * monitor last recorded (its status says why it is down), a disabled one too (it is not asked).
   */
  async describe(id: string): Promise<HostView> {
    const view = this.view(await this.get(id));
    if (!view.host.enabled) return view;
    try {
      const pools = await withTimeout(this.ports.forHost(id).listStoragePools(), LIVE_STORAGE_TIMEOUT_MS);
      return {
        ...view,
        storage: { pools, checkedAt: new Date().toISOString(), problem: view.storage?.problem ?? null },
      };
    } catch {
      return view;
    }
  }

  view(host: Host): HostView {
    return { host, storagePath: effectiveStoragePath(host, this.config), storage: host.storage };
  }

  async get(id: string): Promise<Host> {
    const host = await this.hosts.find(id);
    if (!host) throw AppException.notFound('Host');
    return host;
  }

  /** Registers a host and checks it at once. Nothing is stored when a field is refused. */
  async create(dto: CreateHostDto): Promise<HostView> {
    if (dto.adapter === 'libvirt' && !dto.libvirtUri)
      throw invalidField('libvirtUri', 'libvirtUri is required for the libvirt adapter');
    if (dto.adapter === 'qemu-direct' && !dto.stateDir)
      throw invalidField('stateDir', 'stateDir is required for the qemu-direct adapter');
    const located = {
      name: dto.name,
      adapter: dto.adapter,
      libvirtUri: dto.adapter === 'libvirt' ? dto.libvirtUri! : null,
    };
    if (dto.adapter === 'qemu-direct' && dto.agentUrl) this.assertAgentOnThisMachine(dto.agentUrl);
    const storagePath = await this.checkedStoragePath(located, dto.storagePath);
    let host: Host;
    try {
      host = await this.hosts.create({
        ...located,
        stateDir: dto.adapter === 'qemu-direct' ? dto.stateDir! : null,
        storagePath,
        agentUrl: dto.agentUrl ?? null,
        agentTokenEncrypted: dto.agentToken ? this.secrets.encrypt(dto.agentToken) : null,
        enabled: dto.enabled ?? true,
        maintenance: dto.maintenance ?? false,
      });
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, `A host named ${dto.name} exists`);
      throw error;
    }
    await this.monitor.check();
    return this.view(await this.get(host.id));
  }

  /**
   * The stored agent token only ever goes to the URL it was given with: a new `agentUrl` must
   * come with its `agentToken` in the same request, and `agentUrl: null` (no agent) drops the
   * token too. Otherwise whoever can change the URL could collect the token there.
   */
  async update(id: string, dto: UpdateHostDto): Promise<HostView> {
    const host = await this.get(id);
    if (host.adapter === 'qemu-direct' && dto.agentUrl) this.assertAgentOnThisMachine(dto.agentUrl);
    const changes: HostChanges = {};
    if (dto.enabled !== undefined) changes.enabled = dto.enabled;
    if (dto.maintenance !== undefined) changes.maintenance = dto.maintenance;
    if (dto.agentUrl !== undefined && dto.agentUrl !== host.agentUrl) {
      if (dto.agentUrl === null) changes.agentTokenEncrypted = null;
      else if (dto.agentToken === undefined)
        throw invalidField('agentToken', 'agentToken must be sent again whenever agentUrl changes');
      changes.agentUrl = dto.agentUrl;
    }
    if (dto.agentToken !== undefined) changes.agentTokenEncrypted = this.secrets.encrypt(dto.agentToken);
    if (Object.keys(changes).length) await this.hosts.update(id, changes);
    await this.ports.reload();
    return this.view(await this.get(id));
  }

  /**
   * The VM pool folder to store for a new host: the one asked for, checked against STORAGE_ROOTS
   * (and VM_DIR for a host on this machine, whose links can be followed too); without one, null
   * for a host on this machine (VM_DIR) and the default under the first root for any other.
   */
  private async checkedStoragePath(
    host: Pick<Host, 'name' | 'adapter' | 'libvirtUri'>,
    requested: string | undefined | null,
  ): Promise<string | null> {
    const local = isOnApiMachine(host, this.config);
    if (requested === undefined || requested === null) return local ? null : defaultStoragePath(this.config);
    const roots = [...this.config.hypervisor.storageRoots, ...(local ? [this.config.hypervisor.vmDir] : [])];
    const problem = storagePathProblem(requested, roots) ?? (local ? await symlinkProblem(requested, roots) : null);
    if (problem) throw invalidField('storagePath', problem);
    return requested;
  }

  /**
   * QEMU of a qemu-direct host is started by this api process, so the host is this machine and its
   * agent must be too: an agent elsewhere would report another machine's memory, and means the
   * admin meant a host elsewhere, which LIMEN reaches through libvirt.
   */
  private assertAgentOnThisMachine(agentUrl: string): void {
    if (!urlIsThisMachine(agentUrl))
      throw invalidField(
        'agentUrl',
        "A qemu-direct host is QEMU run by this api on its own machine, so its agentUrl must be a loopback address or one of this machine's. Register a host on another machine with adapter libvirt and a qemu+ssh:// or qemu+tls:// libvirtUri.",
      );
  }

  /** Removes a host that holds no VMs; never the local one. */
  async remove(id: string): Promise<void> {
    const host = await this.get(id);
    if (host.name === this.config.hostName)
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, 'The local host cannot be removed');
    const count = await this.vms.countOnHost(id);
    if (count > 0)
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, `The host still holds ${count} VM(s)`);
    await this.hosts.delete(id);
    await this.ports.reload();
  }
}
