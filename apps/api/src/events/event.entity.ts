import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { EventPayloads, EventType } from './event-types';

/** One entry of the persisted event log, replayed to SSE clients by Last-Event-ID. */
@Entity('events')
export class EventRecord {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ type: 'varchar', length: 64 })
  type: EventType;

  /** Who may see it (admins see everything). Null: admins only. */
  @Column({ name: 'owner_id', type: 'uuid', nullable: true })
  ownerId: string | null;

  @Column({ name: 'vm_id', type: 'uuid', nullable: true })
  vmId: string | null;

  @Column({ type: 'jsonb' })
  payload: EventPayloads[EventType];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
