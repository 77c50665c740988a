import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { concat, defer, filter, from, map, mergeMap, Observable, Subject } from 'rxjs';
import { EntityManager, LessThan, MoreThan, Repository } from 'typeorm';
import { AuthUser } from '../auth/decorators';
import { EventRecord } from './event.entity';

export interface NewEvent {
  type: string;
  ownerId: string | null;
  vmId?: string | null;
  payload: Record<string, unknown>;
}

export interface DeliveredEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
}

const REPLAY_LIMIT = 1000;

/**
 * Appends events to the persisted log and fans them out to live SSE streams.
 * Persist first, publish after commit: a client never sees an event that a
 * rollback would take back, and Last-Event-ID replay finds every one it missed.
 */
@Injectable()
export class EventsService {
  private readonly live = new Subject<EventRecord>();

  constructor(@InjectRepository(EventRecord) private readonly events: Repository<EventRecord>) {}

  /** Persists and publishes one event outside any transaction. */
  async publish(event: NewEvent): Promise<void> {
    this.announce([await this.append(this.events.manager, event)]);
  }

  /** Persists inside the caller's transaction; call `announce` with the result after it commits. */
  append(manager: EntityManager, event: NewEvent): Promise<EventRecord> {
    return manager.save(manager.create(EventRecord, { type: event.type, ownerId: event.ownerId, vmId: event.vmId ?? null, payload: event.payload }));
  }

  announce(records: EventRecord[]): void {
    for (const record of records) this.live.next(record);
  }

  /** Replays what `user` missed after `lastEventId`, then follows live events, filtered to what they may see. */
  stream(user: AuthUser, lastEventId?: string): Observable<DeliveredEvent> {
    const visible = (e: EventRecord) => user.role === 'admin' || e.ownerId === user.id;
    let lastSent = BigInt(lastEventId ?? '0');
    const replay = lastEventId
      ? defer(() => this.events.find({ where: { id: MoreThan(lastEventId) }, order: { id: 'ASC' }, take: REPLAY_LIMIT })).pipe(mergeMap((rows) => from(rows)))
      : from([] as EventRecord[]);
    return concat(replay, this.live).pipe(
      filter(visible),
      // Live events raised during the replay query would otherwise arrive twice.
      filter((e) => {
        const id = BigInt(e.id);
        if (id <= lastSent) return false;
        lastSent = id;
        return true;
      }),
      map((e) => ({ id: e.id, type: e.type, data: { ...e.payload, type: e.type, at: e.createdAt.toISOString() } })),
    );
  }

  /** Bounded retention of the replay log. */
  async prune(olderThanHours: number): Promise<number> {
    const result = await this.events.delete({ createdAt: LessThan(new Date(Date.now() - olderThanHours * 3_600_000)) });
    return result.affected ?? 0;
  }
}
