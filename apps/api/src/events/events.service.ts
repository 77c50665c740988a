import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { filter, Observable, Subject } from 'rxjs';
import { AuthUser } from '../auth/decorators';
import { DatabaseEndpoint } from '../database/database-endpoint';
import { PgListener } from '../database/pg-listener';
import { Tx } from '../database/transaction';
import { EventRecord } from './event.entity';
import { EventRepository, EventScope } from './event.repository';
import { EventType, NewEvent } from './event-types';

export type { NewEvent } from './event-types';

/** Where a stream starts (after `lastEventId`, else live only) and, with `vmId`, that it carries one VM's events. */
export interface StreamOptions {
  lastEventId?: string;
  vmId?: string;
}

export interface DeliveredEvent {
  id: string;
  type: EventType;
  data: Record<string, unknown>;
}

/** Events read per query: a replay reads page after page, a catch-up one page. */
const REPLAY_PAGE = 1000;
const CHANNEL = 'limen_events';
/** How many delivered ids a stream remembers to drop duplicates (replay overlapping live). */
const SEEN_LIMIT = 5_000;

/**
 * Appends events to the persisted log and fans them out to live SSE streams.
 * Persist first, publish after commit: a client never sees an event that a
 * rollback would take back, and Last-Event-ID replay finds every one it missed.
 *
 * With a shared PostgreSQL, every append also NOTIFYs (transactionally, so only
 * on commit) and each replica LISTENs: an event raised on one replica reaches
 * SSE clients of all. Embedded PGlite is one replica, so it delivers in process.
 */
@Injectable()
export class EventsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Events');
  private readonly live = new Subject<EventRecord>();
  private listener: PgListener | null = null;
  /** Notifications are loaded one after another, so each replica delivers in commit order. */
  private delivery = Promise.resolve();
  /** The newest event id put on `live` (or the log's newest at the first LISTEN): where a catch-up starts. */
  private deliveredUpTo: string | null = null;

  constructor(
    private readonly events: EventRepository,
    private readonly endpoint: DatabaseEndpoint,
  ) {}

  private get shared(): boolean {
    return !this.endpoint.isEmbedded;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.shared) return;
    this.listener = new PgListener(this.endpoint.url, CHANNEL, {
      notification: (id) => {
        if (id) this.load(id);
      },
      listening: () => this.catchUp(),
      lost: (why) => this.logger.warn(`event listener lost (${why}); reconnecting (clients resume with Last-Event-ID)`),
    });
    await this.listener.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.listener?.stop();
  }

  /** Persists and publishes one event outside any transaction. */
  async publish(event: NewEvent): Promise<void> {
    this.announce([await this.events.append(undefined, event, this.shared ? CHANNEL : null)]);
  }

  /** Persists inside the caller's transaction; call `announce` with the result after it commits. */
  append(tx: Tx, event: NewEvent): Promise<EventRecord> {
    return this.events.append(tx, event, this.shared ? CHANNEL : null);
  }

  /** Delivers committed events to this replica's streams (with a shared database the listener does it). */
  announce(records: EventRecord[]): void {
    if (this.shared) return;
    for (const record of records) this.live.next(record);
  }

  /** Loads and delivers one notified event, after those before it (see `delivery`). */
  private load(id: string): void {
    this.delivery = this.delivery
      .then(() => this.events.find(id))
      .then((record) => {
        if (record) this.deliver(record);
      })
      .catch((error) => this.logger.warn(`event ${id} not delivered: ${(error as Error).message}`));
  }

  private deliver(record: EventRecord): void {
    this.live.next(record);
    if (this.deliveredUpTo === null || BigInt(record.id) > BigInt(this.deliveredUpTo)) this.deliveredUpTo = record.id;
  }

  /**
   * NOTIFYs sent while this replica was not LISTENing are gone for good, yet the pool is often back
   * before the listener is (it retries every second): work committed in that gap, right after
   * a database outage, would never reach the live SSE streams. So after every (re)LISTEN, the events
   * logged after the last one delivered are read back and delivered, in the notification queue's
   * order; streams drop the ones they already had by id. (The first LISTEN only notes where the
   * log ends: no stream existed before it.) An event whose id is older than one already delivered
   * but that committed during the gap is not caught up: its stream gets it by Last-Event-ID replay.
   */
  private catchUp(): void {
    this.delivery = this.delivery
      .then(async () => {
        if (this.deliveredUpTo === null) {
          const newest = await this.events.newestId();
          this.deliveredUpTo ??= newest;
          return;
        }
        const missed = await this.events.page(this.deliveredUpTo, REPLAY_PAGE);
        if (missed.length)
          this.logger.log(`delivered ${missed.length} event(s) committed while the event listener was reconnecting`);
        for (const record of missed) this.deliver(record);
      })
      .catch((error) =>
        this.logger.warn(`events committed while the listener was down not caught up: ${(error as Error).message}`),
      );
  }

  /**
   * Replays what `user` missed after `lastEventId`, then follows live events, filtered to what they
   * may see, and to `vmId`'s when given (the caller has checked that VM is theirs to see). The
   * replay reads the log in pages until it is caught up, so a client that missed more than a page
   * skips nothing. Live events that arrive meanwhile wait, and follow the replay: events go out in
   * log order, so the last id a client received is a position it can resume from. Those the replay
   * also returned (and catch-up re-deliveries) are dropped by id.
   */
  stream(user: AuthUser, { lastEventId, vmId }: StreamOptions = {}): Observable<DeliveredEvent> {
    // One scope for both: the replay reads it in SQL, live events are filtered by it here.
    const scope: EventScope = { ownerId: user.role === 'admin' ? undefined : user.id, vmId };
    const inScope = (e: EventRecord) =>
      (scope.ownerId === undefined || e.ownerId === scope.ownerId) &&
      (scope.vmId === undefined || e.vmId === scope.vmId);
    return new Observable<DeliveredEvent>((subscriber) => {
      const seen = new Set<string>();
      const send = (e: EventRecord) => {
        if (seen.has(e.id)) return;
        seen.add(e.id);
        if (seen.size > SEEN_LIMIT) seen.delete(seen.values().next().value as string);
        subscriber.next({
          id: e.id,
          type: e.type,
          data: { ...e.payload, type: e.type, at: e.createdAt.toISOString() },
        });
      };
      // Followed from the start, so nothing raised during the replay is lost.
      let waiting: EventRecord[] | null = lastEventId ? [] : null;
      const live = this.live.pipe(filter(inScope)).subscribe((e) => (waiting ? waiting.push(e) : send(e)));
      if (lastEventId) {
        this.replay(scope, lastEventId, send, () => subscriber.closed).then(
          () => {
            const queued = waiting ?? [];
            waiting = null;
            queued.forEach(send);
          },
          (error: Error) => subscriber.error(error),
        );
      }
      return () => live.unsubscribe();
    });
  }

  private async replay(
    scope: EventScope,
    after: string,
    send: (e: EventRecord) => void,
    stopped: () => boolean,
  ): Promise<void> {
    for (let from = after; !stopped();) {
      const page = await this.events.page(from, REPLAY_PAGE, scope);
      if (stopped()) return;
      page.forEach(send);
      if (page.length < REPLAY_PAGE) return;
      from = page[page.length - 1].id;
    }
  }

  /** Bounded retention of the replay log. */
  prune(olderThanHours: number): Promise<number> {
    return this.events.prune(new Date(Date.now() - olderThanHours * 3_600_000));
  }
}
