import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, LessThan, MoreThan } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { EventRecord } from './event.entity';
import { NewEvent } from './event-types';

/** Which events a reader gets: only one owner's, only those about one VM (both when both are set). */
export interface EventScope {
  ownerId?: string;
  vmId?: string;
}

/** The one owner of the `events` table (the replay log) and of its NOTIFYs. */
@Injectable()
export class EventRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /**
   * Logs an event in `tx` (or on its own); with `notifyChannel`, also NOTIFYs its id there, which
   * PostgreSQL sends only if the transaction commits.
   */
  async append(tx: Tx | undefined, event: NewEvent, notifyChannel: string | null): Promise<EventRecord> {
    const record = this.manager(tx).create(EventRecord, {
      type: event.type,
      ownerId: event.ownerId,
      vmId: event.vmId ?? null,
      payload: event.payload,
    });
    await this.insert(tx, record);
    if (notifyChannel) await this.query(tx, `SELECT pg_notify($1, $2)`, [notifyChannel, record.id]);
    return record;
  }

  find(id: string): Promise<EventRecord | null> {
    return this.manager().findOneBy(EventRecord, { id });
  }

  /** The newest event's id, or '0' when the log is empty. */
  async newestId(): Promise<string> {
    const [row] = await this.query<{ id: string }>(undefined, `SELECT coalesce(max(id), 0)::text AS id FROM events`);
    return row.id;
  }

  /** Up to `limit` events after `afterId`, oldest first; only `ownerId`'s and about `vmId` when given. */
  page(afterId: string, limit: number, only: EventScope = {}): Promise<EventRecord[]> {
    const where = {
      id: MoreThan(afterId),
      ...(only.ownerId === undefined ? {} : { ownerId: only.ownerId }),
      ...(only.vmId === undefined ? {} : { vmId: only.vmId }),
    };
    return this.manager().find(EventRecord, { where, order: { id: 'ASC' }, take: limit });
  }

  /** Deletes the events logged before `before`; returns how many. */
  async prune(before: Date): Promise<number> {
    const result = await this.manager().delete(EventRecord, { createdAt: LessThan(before) });
    return result.affected ?? 0;
  }
}
