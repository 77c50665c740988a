import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiHeader, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { AuthUser, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import { ResourceResponse } from '../idempotency/resource-response';
import { CreateScheduleDto, ScheduleDto, SchedulePageDto, UpdateScheduleDto } from './dto/schedule.dto';
import { SchedulesService } from './schedules.service';
import { ScopeResource } from '../auth/scopes';

@ApiTags('schedules')
@ApiBearerAuth()
@ApiProblems(400, 401, 404, 429)
@ScopeResource('vms')
@Controller({ path: 'vms/:vmId/schedules', version: '1' })
export class SchedulesController {
  constructor(private readonly schedules: SchedulesService) {}

  /** The VM's schedules, newest first. */
  @Get()
  async list(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Query() page: PageQueryDto,
  ): Promise<SchedulePageDto> {
    const result = await this.schedules.list(user, vmId, page);
    return { items: result.items.map(ScheduleDto.from), nextCursor: result.nextCursor };
  }

  /**
   * Take snapshots or backups of the VM on a cron schedule, with retention over the copies it made.
   * Each run is an operation of the VM's owner (counted against their quota like a request) and an
   * audit entry (`schedule.run`); a slot missed while the api was down runs once when it is back.
   */
  @Post()
  @ApiCreatedResponse({
    type: ScheduleDto,
    headers: {
      Location: {
        description: 'The new schedule',
        required: true,
        schema: { type: 'string', format: 'uri-reference' },
      },
    },
  })
  @ApiProblems(409)
  async create(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Body() dto: CreateScheduleDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ScheduleDto> {
    const schedule = await this.schedules.create(user, vmId, dto);
    res.setHeader('Location', `/api/v1/vms/${vmId}/schedules/${schedule.id}`);
    res.setHeader('ETag', `"${schedule.version}"`);
    return ScheduleDto.from(schedule);
  }

  /** One schedule, with its ETag. */
  @Get(':scheduleId')
  @ResourceResponse()
  async get(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Param('scheduleId', ParseUUIDPipe) scheduleId: string,
  ): Promise<ScheduleDto> {
    return ScheduleDto.from(await this.schedules.get(user, vmId, scheduleId));
  }

  /** Change the timing, retention or enabled flag; absent fields stay as they are. */
  @Patch(':scheduleId')
  @ApiHeader({ name: 'If-Match', required: false, description: 'The ETag you last read; a stale one gets 412' })
  @ApiOkResponse({ type: ScheduleDto })
  @ApiProblems(412)
  @ResourceResponse()
  async update(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Param('scheduleId', ParseUUIDPipe) scheduleId: string,
    @Body() dto: UpdateScheduleDto,
    @Headers('if-match') ifMatch: string | undefined,
  ): Promise<ScheduleDto> {
    return ScheduleDto.from(await this.schedules.update(user, vmId, scheduleId, dto, ifMatch));
  }

  /** Delete the schedule; the copies it made stay, outside any retention. */
  @Delete(':scheduleId')
  @HttpCode(204)
  async remove(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Param('scheduleId', ParseUUIDPipe) scheduleId: string,
  ): Promise<void> {
    await this.schedules.remove(user, vmId, scheduleId);
  }
}
