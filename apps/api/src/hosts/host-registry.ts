import { HttpStatus, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { PageQueryDto } from '../common/page-query.dto';
import { AppException, ErrorCode } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { isUniqueViolation } from '../database/pg-errors';
import { HostAllocation, VmRepository } from '../vms/vm.repository';
import { CreateHostDto, UpdateHostDto } from './dto/host.dto';
import { Host } from './host.entity';
import { HostMonitor } from './host-monitor';
import { HostPorts } from './host-ports';
import { HostSecrets } from './host-secrets';
import { HostChanges, HostRepository } from './host.repository';
import { invalidField } from './invalid-field';

const NOTHING_ALLOCATED: HostAllocation = { vcpus: 0, memoryMiB: 0, vms: 0 };

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

  async list(
    page: PageQueryDto,
  ): Promise<{ items: Array<{ host: Host; allocated: HostAllocation }>; nextCursor: string | null }> {
    const hosts = await this.hosts.page(page);
    const allocations = await this.vms.allocationsByHost();
    return {
      items: hosts.items.map((host) => ({ host, allocated: allocations.get(host.id) ?? NOTHING_ALLOCATED })),
      nextCursor: hosts.nextCursor,
    };
  }

  async get(id: string): Promise<Host> {
    const host = await this.hosts.find(id);
    if (!host) throw AppException.notFound('Host');
    return host;
  }

  /** Registers a host and checks it at once. */
  async create(dto: CreateHostDto): Promise<Host> {
    if (dto.adapter === 'libvirt' && !dto.libvirtUri)
      throw invalidField('libvirtUri', 'libvirtUri is required for the libvirt adapter');
    if (dto.adapter === 'qemu-direct' && !dto.stateDir)
      throw invalidField('stateDir', 'stateDir is required for the qemu-direct adapter');
    let host: Host;
    try {
      host = await this.hosts.create({
        name: dto.name,
        adapter: dto.adapter,
        libvirtUri: dto.adapter === 'libvirt' ? dto.libvirtUri! : null,
        stateDir: dto.adapter === 'qemu-direct' ? dto.stateDir! : null,
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
    return this.get(host.id);
  }

  /**
   * The stored agent token only ever goes to the URL it was given with: a new `agentUrl` must
   * come with its `agentToken` in the same request, and `agentUrl: null` (no agent) drops the
   * token too. Otherwise whoever can change the URL could collect the token there.
   */
  async update(id: string, dto: UpdateHostDto): Promise<Host> {
    const host = await this.get(id);
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
    return this.get(id);
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
