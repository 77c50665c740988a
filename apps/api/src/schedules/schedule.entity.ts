import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export const SCHEDULE_KINDS = ['snapshot', 'backup'] as const;
export type ScheduleKind = (typeof SCHEDULE_KINDS)[number];

/** A cron schedule of snapshots or backups of one VM, with retention over the copies it made. */
@Entity('schedules')
export class Schedule {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'vm_id', type: 'uuid' })
  vmId: string;

  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @Column({ type: 'varchar', length: 16 })
  kind: ScheduleKind;

  /** Five fields (minute hour day-of-month month day-of-week), read in `timeZone`. */
  @Column({ type: 'varchar', length: 128 })
  cron: string;

  /** An IANA time zone name. */
  @Column({ name: 'time_zone', type: 'varchar', length: 64 })
  timeZone: string;

  /** Keep at most this many of the copies it made (null: no count limit). */
  @Column({ name: 'keep_last', type: 'integer', nullable: true })
  keepLast: number | null;

  /** Delete its copies older than this many days (null: no age limit). The newest good copy always stays. */
  @Column({ name: 'keep_days', type: 'integer', nullable: true })
  keepDays: number | null;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  /** The next slot the cron expression gives; claimed (moved on) by exactly one replica when due. */
  @Column({ name: 'next_run_at', type: 'timestamptz', precision: 3 })
  nextRunAt: Date;

  @Column({ name: 'last_run_at', type: 'timestamptz', precision: 3, nullable: true })
  lastRunAt: Date | null;

  @Column({ name: 'last_operation_id', type: 'uuid', nullable: true })
  lastOperationId: string | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError: string | null;

  @Column({ type: 'integer', default: 1 })
  version: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
