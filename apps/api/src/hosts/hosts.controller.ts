import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import { CreateHostDto, HostDto, HostPageDto, UpdateHostDto } from './dto/host.dto';
import { HostRegistry } from './host-registry';
import { ScopeResource } from '../auth/scopes';

/** Hypervisor hosts (admins only). Agent tokens are write-only and stored encrypted. */
@ApiTags('hosts')
@ApiBearerAuth()
@ApiProblems(400, 401, 403, 429)
@Roles('admin')
@ScopeResource('hosts')
@Controller({ path: 'hosts', version: '1' })
export class HostsController {
  constructor(private readonly hosts: HostRegistry) {}

  /** The hosts, newest first, with their status, capacity and what their VMs hold. */
  @Get()
  async list(@Query() page: PageQueryDto): Promise<HostPageDto> {
    const result = await this.hosts.list(page);
    return {
      items: result.items.map((item) => HostDto.from(item, item.allocated)),
      nextCursor: result.nextCursor,
    };
  }

  /** One host, with its storage pools read from it now (as last recorded when it does not answer within 3 s). */
  @Get(':id')
  @ApiProblems(404)
  async get(@Param('id', ParseUUIDPipe) id: string): Promise<HostDto> {
    return HostDto.from(await this.hosts.describe(id));
  }

  /**
   * Register a host (libvirt: a libvirt URI; qemu-direct: a state folder on this machine). It is
   * checked at once. `storagePath` outside STORAGE_ROOTS, or a qemu-direct host whose `agentUrl`
   * is not this machine, is 400 and nothing is stored.
   */
  @Post()
  @ApiProblems(409)
  @ApiBody({
    type: CreateHostDto,
    examples: {
      remote: {
        summary:
          'A libvirt host on another machine, its VM pool in a folder of its own, registered disabled until it is ready',
        value: {
          name: 'hv-2',
          adapter: 'libvirt',
          libvirtUri: 'qemu+ssh://limen@hv-2/system',
          storagePath: '/var/lib/limen/pool',
          enabled: false,
        },
      },
      qemuDirect: {
        summary: 'A qemu-direct host on this machine (QEMU run without libvirt)',
        value: { name: 'qemu-2', adapter: 'qemu-direct', stateDir: '/var/lib/limen/qemu-2', enabled: true },
      },
    },
  })
  async create(@Body() dto: CreateHostDto): Promise<HostDto> {
    return HostDto.from(await this.hosts.create(dto));
  }

  /**
   * Enable, disable, put in maintenance, or change its agent. A new `agentUrl` must come with its
   * `agentToken` (400 otherwise); `agentUrl: null` removes the agent and its token.
   */
  @Patch(':id')
  @ApiProblems(404)
  @ApiBody({
    type: UpdateHostDto,
    examples: {
      maintenance: {
        summary: 'Into maintenance: its VMs stay, no new ones are placed on it',
        value: { maintenance: true },
      },
      back: { summary: 'Back in service', value: { enabled: true, maintenance: false } },
    },
  })
  async update(@Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateHostDto): Promise<HostDto> {
    return HostDto.from(await this.hosts.update(id, dto));
  }

  /** Remove a host that holds no VMs (not the local one). */
  @Delete(':id')
  @HttpCode(204)
  @ApiProblems(404, 409)
  async remove(@Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.hosts.remove(id);
  }
}
