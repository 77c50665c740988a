import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { AuthUser, CurrentUser, Roles } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { AlertsService } from './alerts.service';
import { AlertDto, AlertPageDto, ListAlertsQueryDto, SilenceAlertDto } from './dto/alert.dto';
import { ScopeResource } from '../auth/scopes';

/** Alert instances raised by the alert rules, for admins. */
@ApiTags('alerts')
@ApiBearerAuth()
@ApiProblems(400, 401, 403, 429)
@Roles('admin')
@ScopeResource('alerts')
@Controller({ path: 'alerts', version: '1' })
export class AlertsController {
  constructor(private readonly alerts: AlertsService) {}

  /** Alert instances, newest first; filter by state (pending, firing, resolved). */
  @Get()
  list(@Query() query: ListAlertsQueryDto): Promise<AlertPageDto> {
    return this.alerts.list(query);
  }

  /** One alert instance. */
  @Get(':id')
  @ApiProblems(404)
  get(@Param('id', ParseUUIDPipe) id: string): Promise<AlertDto> {
    return this.alerts.get(id);
  }

  /** Acknowledge a firing alert: records who and when. It keeps firing until its condition clears. */
  @Post(':id/ack')
  @HttpCode(200)
  @ApiProblems(404, 409)
  ack(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<AlertDto> {
    return this.alerts.ack(user, id);
  }

  /**
   * Hold back notifications for this alert's rule and subject until `until` (or for `forMinutes`),
   * including re-firings in the meantime. State changes are still recorded and streamed as events.
   */
  @Post(':id/silence')
  @HttpCode(200)
  @ApiProblems(404)
  @ApiBody({
    type: SilenceAlertDto,
    examples: { forTwoHours: { summary: 'For two hours from now', value: { forMinutes: 120 } } },
  })
  silence(
    @CurrentUser() user: AuthUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: SilenceAlertDto,
  ): Promise<AlertDto> {
    return this.alerts.silence(user, id, dto);
  }

  /** Lift the silence on this alert's rule and subject. */
  @Delete(':id/silence')
  @ApiProblems(404)
  unsilence(@Param('id', ParseUUIDPipe) id: string): Promise<AlertDto> {
    return this.alerts.unsilence(id);
  }
}
