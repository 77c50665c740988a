import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiCreatedResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { AuthUser, CurrentUser, Roles } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import { CreateNetworkDto, NetworkDto, NetworkPageDto } from './dto/network.dto';
import { NetworksService } from './networks.service';
import { ScopeResource } from '../auth/scopes';

/** Networks VMs attach NICs to: admins create and delete them, everyone sees the public ones. */
@ApiTags('networks')
@ApiBearerAuth()
@ApiProblems(400, 401, 429)
@ScopeResource('networks')
@Controller({ path: 'networks', version: '1' })
export class NetworksController {
  constructor(private readonly networks: NetworksService) {}

  /** The networks you may attach VMs to (admins: all), newest first. */
  @Get()
  async list(@CurrentUser() user: AuthUser, @Query() page: PageQueryDto): Promise<NetworkPageDto> {
    const result = await this.networks.list(user, page);
    return { items: result.items.map(NetworkDto.from), nextCursor: result.nextCursor };
  }

  /** One network (a non-public one only to admins). */
  @Get(':id')
  @ApiProblems(404)
  async get(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<NetworkDto> {
    return NetworkDto.from(await this.networks.get(user, id));
  }

  /**
   * Create a network (admins). A nat or isolated one is defined on every online host at once; if
   * any host refuses it, nothing is left anywhere. Its subnet may not overlap another network's or a
   * host's route (409 NETWORK_CONFLICT); a bridge network's bridge must exist on the hosts.
   */
  @Post()
  @Roles('admin')
  @ApiBody({
    type: CreateNetworkDto,
    examples: {
      isolated: {
        summary: 'An isolated network with DHCP',
        description:
          'Gateway and DHCP range are derived from `cidr`. Refused with `NETWORK_CONFLICT` when the subnet overlaps another network or a route of a host.',
        value: { name: 'lab', kind: 'isolated', description: 'lab machines', cidr: '10.77.0.0/24' },
      },
    },
  })
  @ApiCreatedResponse({
    type: NetworkDto,
    headers: {
      Location: { description: 'The new network', required: true, schema: { type: 'string', format: 'uri-reference' } },
    },
  })
  @ApiProblems(403, 409, 502, 503, 504)
  async create(@Body() dto: CreateNetworkDto, @Res({ passthrough: true }) res: Response): Promise<NetworkDto> {
    const network = await this.networks.create(dto);
    res.setHeader('Location', `/api/v1/networks/${network.id}`);
    return NetworkDto.from(network);
  }

  /** Delete a network no NIC uses (admins); it is taken off every host. */
  @Delete(':id')
  @Roles('admin')
  @HttpCode(204)
  @ApiProblems(403, 404, 409, 502, 503, 504)
  async remove(@Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.networks.remove(id);
  }
}
