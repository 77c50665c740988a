import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** One entry of the persisted event log, replayed to SSE clients by Last-Event-ID. */
@Entity('events')
export class EventRecord {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  /** vm.created, vm.state, vm.deleted, operation.updated, snapshot.created, ... */
  @Column({ type: 'varchar', length: 64 })
  type: string;

  /** Who may see it (admins see everything). Null: admins only. */
  @Column({ name: 'owner_id', type: 'uuid', nullable: true })
  ownerId: string | null;

  @Column({ name: 'vm_id', type: 'uuid', nullable: true })
  vmId: string | null;

  @Column({ type: 'jsonb' })
  payload: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
