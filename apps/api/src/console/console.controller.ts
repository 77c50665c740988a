import { Body, Controller, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiTags } from '@nestjs/swagger';
import { AccessTokenInfo, AuthUser, CurrentAccessToken, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { ConsoleService } from './console.service';
import { ConsoleTicketDto, OpenConsoleDto } from './dto/console.dto';
import { ScopeResource } from '../auth/scopes';

@ApiTags('consoles')
@ApiBearerAuth()
@ApiProblems(400, 401, 429)
@ScopeResource('vms')
@Controller({ path: 'vms', version: '1' })
export class ConsoleController {
  constructor(private readonly consoles: ConsoleService) {}

  /**
   * Open a console of a running VM: returns a single-use ticket, valid for 60 s, and the WebSocket
   * `url` that redeems it. The WebSocket relays binary frames: RFB (VNC) or the serial port's bytes.
   * Sessions are limited per user (429 CONSOLE_SESSION_LIMIT) and closed when idle (code 4000), when the
   * access token the ticket was requested with is revoked or the user's role changes (4001), and when it expires (4002).
   * A browser console is served at `/console/{id}`.
   */
  @Post(':id/console')
  @ApiCreatedResponse({ type: ConsoleTicketDto })
  @ApiProblems(404, 409, 502)
  open(
    @CurrentUser() user: AuthUser,
    @CurrentAccessToken() token: AccessTokenInfo,
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: OpenConsoleDto,
  ): Promise<ConsoleTicketDto> {
    return this.consoles.open(user, token, id, dto.type);
  }
}
