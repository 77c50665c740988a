import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export const SNAPSHOT_STATES = ['creating', 'ready', 'deleting'] as const;
export type SnapshotState = (typeof SNAPSHOT_STATES)[number];

/** An internal qcow2 snapshot of a VM; counts against the owner's snapshot and disk quotas. */
@Entity('snapshots')
export class Snapshot {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'vm_id', type: 'uuid' })
  vmId: string;

  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  /** Unique per VM; also the hypervisor's snapshot name. */
  @Column({ type: 'varchar', length: 64 })
  name: string;

  @Column({ type: 'text', default: '' })
  description: string;

  @Column({ type: 'varchar', length: 16 })
  state: SnapshotState;

  /**
   * What it takes on the VM's disk, in its owner's disk quota: the RAM state it saves, reserved
   * when asked for, or the disk's measured growth if that was more (QuotaLedger.snapshotSizeMiB).
   */
  @Column({ name: 'size_mib', type: 'integer', default: 0 })
  sizeMiB: number;

  /** The schedule that took it (its retention applies to those only). */
  @Column({ name: 'schedule_id', type: 'uuid', nullable: true })
  scheduleId: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
