import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import { AlertChannelsService } from './alert-channels.service';
import {
  AlertChannelDto,
  AlertChannelPageDto,
  ChannelTestResultDto,
  CreateAlertChannelDto,
  CreatedAlertChannelDto,
  UpdateAlertChannelDto,
} from './dto/alert-channel.dto';
import { ScopeResource } from '../auth/scopes';

/**
 * Where alert notifications go, for admins: webhook (signed JSON POST), email (SMTP_URL) or log.
 * Every enabled channel is told about each alert that fires or resolves at or above its minimum severity.
 */
@ApiTags('alerts')
@ApiBearerAuth()
@ApiProblems(400, 401, 403, 429)
@Roles('admin')
@ScopeResource('alerts')
@Controller({ path: 'alert-channels', version: '1' })
export class AlertChannelsController {
  constructor(private readonly channels: AlertChannelsService) {}

  /** Channels, newest first. Secrets are never shown: `hasSecret` says whether there is one. */
  @Get()
  async list(@Query() page: PageQueryDto): Promise<AlertChannelPageDto> {
    const result = await this.channels.list(page);
    return { items: result.items.map(AlertChannelDto.from), nextCursor: result.nextCursor };
  }

  /** Create a channel. A webhook without a `secret` gets a generated one, returned in this answer only. */
  @Post()
  @ApiProblems(409)
  @ApiBody({
    type: CreateAlertChannelDto,
    examples: {
      webhook: {
        summary: 'A webhook (its signing secret is generated and returned once)',
        value: { name: 'ops webhook', type: 'webhook', url: 'https://hooks.example.com/limen', minSeverity: 'warning' },
      },
      email: {
        summary: 'An email channel',
        description: 'Needs SMTP_URL on the server; without it, refused for `type`.',
        value: { name: 'ops mail', type: 'email', recipients: ['ops@example.com'], minSeverity: 'critical' },
      },
    },
  })
  async create(@Body() dto: CreateAlertChannelDto): Promise<CreatedAlertChannelDto> {
    const { channel, generatedSecret } = await this.channels.create(dto);
    return { ...AlertChannelDto.from(channel), ...(generatedSecret ? { secret: generatedSecret } : {}) };
  }

  /** One channel. */
  @Get(':id')
  @ApiProblems(404)
  async get(@Param('id', ParseUUIDPipe) id: string): Promise<AlertChannelDto> {
    return AlertChannelDto.from(await this.channels.get(id));
  }

  /** Change a channel; its type is fixed. */
  @Patch(':id')
  @ApiProblems(404, 409)
  @ApiBody({
    type: UpdateAlertChannelDto,
    examples: {
      quieter: {
        summary: 'Only critical alerts, under a new name',
        value: { name: 'ops pager', minSeverity: 'critical' },
      },
      disable: { summary: 'Pause the channel', value: { enabled: false } },
    },
  })
  async update(@Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateAlertChannelDto): Promise<AlertChannelDto> {
    return AlertChannelDto.from(await this.channels.update(id, dto));
  }

  /** Delete a channel. */
  @Delete(':id')
  @HttpCode(204)
  @ApiProblems(404)
  async remove(@Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.channels.remove(id);
  }

  /** Send one test notification (event `test`, `alert: null`) now, without retries, and report the outcome. */
  @Post(':id/test')
  @HttpCode(200)
  @ApiProblems(404)
  test(@Param('id', ParseUUIDPipe) id: string): Promise<ChannelTestResultDto> {
    return this.channels.test(id);
  }
}
