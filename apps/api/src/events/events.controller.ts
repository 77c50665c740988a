import { Controller, Get, Headers, HttpStatus, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import type { Request, Response } from 'express';
import { AccessTokenInfo, AuthUser, CurrentAccessToken, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { AppException, ErrorCode, PROBLEM_CONTENT_TYPE } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { sendEventStream } from './event-stream-response';
import { EventStreams } from './event-streams';

@ApiTags('events')
@ApiBearerAuth()
@ApiProblems(400, 401)
@Controller({ path: 'events', version: '1' })
export class EventsController {
  constructor(
    private readonly streams: EventStreams,
    private readonly config: AppConfig,
  ) {}

  /**
   * Server-Sent Events: vm.created, vm.state, vm.deleted, operation.updated, snapshot.*.
   * You see events of your own resources (admins see all). Send Last-Event-ID to replay what you missed.
   * A `heartbeat` event without id arrives on connect and every SSE_HEARTBEAT_SECONDS (30 s).
   * Open streams are limited per user and per server (429 TOO_MANY_STREAMS, with Retry-After).
   * The stream ends when its access token expires or is revoked: reconnect with a fresh token and Last-Event-ID.
   */
  @Get()
  @SkipThrottle({ 'api-user': true })
  @ApiProduces('text/event-stream')
  @ApiResponse({ status: 429, description: 'TOO_MANY_STREAMS; see Retry-After', content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/ProblemDto' } } } })
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Replay events after this id' })
  @ApiOkResponse({ description: 'text/event-stream; each event has an id, a type and JSON data' })
  stream(@CurrentUser() user: AuthUser, @CurrentAccessToken() token: AccessTokenInfo, @Req() req: Request, @Res() res: Response, @Headers('last-event-id') lastEventId?: string): void {
    if (lastEventId !== undefined && !/^\d{1,18}$/.test(lastEventId)) {
      throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, 'Last-Event-ID must be an event id');
    }
    sendEventStream(req, res, this.streams.open(user, token, lastEventId), this.config.eventStreams.heartbeatSeconds * 1000);
  }
}
