import { BeforeApplicationShutdown, HttpStatus, Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { finalize, merge, Observable, Subject, takeUntil } from 'rxjs';
import { AccessTokenInfo, AuthUser } from '../auth/decorators';
import { AppException, ErrorCode } from '../common/problem';
import { UserSlots } from '../common/user-slots';
import { AppConfig } from '../config/app-config';
import { SlotLedger } from '../limits/slot-ledger';
import { MetricsService } from '../metrics/metrics.service';
import { UserAccessWatch } from '../users/user-access-watch';
import { VmAccess } from '../vms/vm-access';
import { DeliveredEvent, EventsService, StreamOptions } from './events.service';

/** A slot frees as soon as a stream closes; this is a hint to try again, not a window. */
const RETRY_AFTER_SECONDS = 5;

/**
 * The SSE streams open on this replica. Each holds a socket and a subscription for as long as the
 * client keeps it, so they are counted and capped, per user and in total
 * (SSE_MAX_STREAMS_PER_USER, SSE_MAX_STREAMS): one user could otherwise open streams until the
 * process ran out of file descriptors. The per-user cap holds across replicas when limits are
 * shared (SlotLedger); the total is this replica's own (its sockets and memory). A stream ends (the client sees the response end) when the
 * access token it was opened with would be refused (its session revoked or signed out, too), or its user's role changes (its scope was
 * computed with the old one), or the token expires: see UserAccessWatch. At shutdown every stream
 * is ended, so the HTTP server can close.
 */
@Injectable()
export class EventStreams implements BeforeApplicationShutdown {
  private readonly slots = new UserSlots();
  private readonly shutdown = new Subject<void>();

  constructor(
    private readonly events: EventsService,
    private readonly config: AppConfig,
    private readonly access: UserAccessWatch,
    private readonly ledger: SlotLedger,
    private readonly vms: VmAccess,
    metrics: MetricsService,
  ) {
    const { slots } = this;
    new Gauge({
      name: 'limen_sse_streams',
      help: 'Open SSE event streams on this replica',
      registers: [metrics.registry],
      collect() {
        this.set(slots.total);
      },
    });
  }

  /**
   * Takes a slot for `user` and returns their events (only `vmId`'s, when given) from `lastEventId`
   * on; the slot is freed when the subscription ends. Subscribe at once: an unsubscribed stream
   * keeps its slot.
   */
  async open(user: AuthUser, token: AccessTokenInfo, options: StreamOptions = {}): Promise<Observable<DeliveredEvent>> {
    // Someone else's VM is refused as a missing one is (404), before any slot is taken.
    if (options.vmId !== undefined) await this.vms.visible(user, options.vmId);
    const { maxStreamsPerUser, maxStreams } = this.config.eventStreams;
    if (this.slots.total >= maxStreams)
      throw this.tooMany('The server holds as many event streams as it allows; try again later', maxStreams);
    const releaseShared = await this.ledger.take('sse', user.id, maxStreamsPerUser);
    if (!releaseShared)
      throw this.tooMany(
        `At most ${maxStreamsPerUser} open event streams per user; close one first`,
        maxStreamsPerUser,
      );
    const releaseLocal = this.slots.take(user.id);
    const release = () => {
      releaseLocal();
      releaseShared();
    };
    const accessEnded = new Subject<void>();
    const unwatch = this.access.watch(
      {
        userId: user.id,
        role: user.role,
        tokenVersion: token.version,
        expiresAt: token.expiresAt,
        sessionId: token.sessionId,
      },
      () => accessEnded.next(),
    );
    return this.events.stream(user, options).pipe(
      takeUntil(merge(this.shutdown, accessEnded)),
      finalize(() => {
        unwatch();
        release();
      }),
    );
  }

  beforeApplicationShutdown(): void {
    this.shutdown.next();
  }

  private tooMany(detail: string, limit: number): AppException {
    const retryAfter = String(RETRY_AFTER_SECONDS);
    return new AppException(
      HttpStatus.TOO_MANY_REQUESTS,
      ErrorCode.TOO_MANY_STREAMS,
      detail,
      { limit },
      { 'Retry-After': retryAfter },
    );
  }
}
