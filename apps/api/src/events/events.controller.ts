import { Controller, Headers, HttpStatus, MessageEvent, Sse } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import { map, merge, Observable, timer } from 'rxjs';
import { AuthUser, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { AppException, ErrorCode } from '../common/problem';
import { EventsService } from './events.service';

/**
 * A `heartbeat` event (no id, so Last-Event-ID is untouched) on connect and then periodically.
 * The first one makes the server send the response headers at once — Nest commits SSE headers
 * with the first event, so a client would otherwise not know it is subscribed until something
 * happens — and the later ones keep idle connections alive through proxies and load balancers.
 */
const HEARTBEAT_INTERVAL_MS = 30_000;

@ApiTags('events')
@ApiBearerAuth()
@ApiProblems(400, 401)
@Controller({ path: 'events', version: '1' })
export class EventsController {
  constructor(private readonly events: EventsService) {}

  /**
   * Server-Sent Events: vm.created, vm.state, vm.deleted, operation.updated, snapshot.*.
   * You see events of your own resources (admins see all). Send Last-Event-ID to replay what you missed.
   * A `heartbeat` event without id arrives on connect and every 30 s.
   */
  @Sse()
  @SkipThrottle({ 'api-user': true })
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Replay events after this id' })
  @ApiOkResponse({ description: 'text/event-stream; each event has an id, a type and JSON data' })
  stream(@CurrentUser() user: AuthUser, @Headers('last-event-id') lastEventId?: string): Observable<MessageEvent> {
    if (lastEventId !== undefined && !/^\d{1,18}$/.test(lastEventId)) {
      throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, 'Last-Event-ID must be an event id');
    }
    const heartbeats = timer(0, HEARTBEAT_INTERVAL_MS).pipe(map(() => ({ type: 'heartbeat', data: { at: new Date().toISOString() } })));
    return merge(heartbeats, this.events.stream(user, lastEventId).pipe(map((e) => ({ id: e.id, type: e.type, data: e.data }))));
  }
}
