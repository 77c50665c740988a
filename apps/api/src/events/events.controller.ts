import { Controller, Get, HttpStatus, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiHeader, ApiOkResponse, ApiResponse, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import type { Request, Response } from 'express';
import { AccessTokenInfo, AuthUser, CurrentAccessToken, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { AppException, ErrorCode, PROBLEM_CONTENT_TYPE } from '../common/problem';
import { RATE_LIMITS_EXTENSION } from '../common/openapi-responses';
import { AppConfig } from '../config/app-config';
import { EVENT_STREAM_SCHEMA, sendEventStream } from './event-stream-response';
import { EventsQueryDto } from './dto/events-query.dto';
import { EventStreams } from './event-streams';
import { ScopeResource } from '../auth/scopes';

@ApiTags('events')
@ApiBearerAuth()
@ApiProblems(400, 401, 404)
@ScopeResource('events')
@Controller({ path: 'events', version: '1' })
export class EventsController {
  constructor(
    private readonly streams: EventStreams,
    private readonly config: AppConfig,
  ) {}

  /**
   * Server-Sent Events: vm.*, operation.updated, snapshot.*, backup.*, image.created, and for admins host.* and alert.*.
   * You see events of your own resources (admins see all). Send Last-Event-ID to replay what you missed.
   * With `vmId`, only the events about that VM (404 for a VM that is not yours, as for one that does not exist).
   * A `heartbeat` event without id arrives on connect and every SSE_HEARTBEAT_SECONDS (30 s).
   * Open streams are limited per user and per server (429 TOO_MANY_STREAMS, with Retry-After).
   * The stream ends when its access token expires or is revoked: reconnect with a fresh token and Last-Event-ID.
   */
  @Get()
  @SkipThrottle({ 'api-user': true })
  @ApiResponse({
    status: 429,
    description: 'TOO_MANY_STREAMS; see Retry-After',
    content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/ProblemDto' } } },
  })
  // Its 429 is TOO_MANY_STREAMS, not a request rate limit: no rate-limit headers.
  @ApiExtension(RATE_LIMITS_EXTENSION, [])
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Replay events after this id' })
  @ApiOkResponse({
    description:
      'Each event has a type (`event:`), an id (`id:`, except heartbeats) and JSON `data`; the schema describes one event, with `data` parsed',
    content: { 'text/event-stream': { schema: EVENT_STREAM_SCHEMA } },
    headers: {
      'X-Accel-Buffering': {
        description: 'Tells nginx not to buffer the stream',
        schema: { type: 'string', enum: ['no'] },
      },
    },
  })
  async stream(
    @CurrentUser() user: AuthUser,
    @CurrentAccessToken() token: AccessTokenInfo,
    @Query() query: EventsQueryDto,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    // Read here rather than with @Headers(), which would declare a second, required header in the spec.
    const lastEventId = req.header('last-event-id');
    if (lastEventId !== undefined && !/^\d{1,18}$/.test(lastEventId)) {
      throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, 'Last-Event-ID must be an event id');
    }
    sendEventStream(
      req,
      res,
      await this.streams.open(user, token, { lastEventId, vmId: query.vmId }),
      this.config.eventStreams.heartbeatSeconds * 1000,
    );
  }
}
