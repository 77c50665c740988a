import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** A user's quota overrides; a null column means "the configured default". */
@Entity('quotas')
export class Quota {
  @PrimaryColumn({ name: 'user_id', type: 'uuid' })
  userId: string;

  @Column({ type: 'integer', nullable: true })
  vms: number | null;

  @Column({ type: 'integer', nullable: true })
  vcpus: number | null;

  @Column({ name: 'memory_mib', type: 'integer', nullable: true })
  memoryMiB: number | null;

  @Column({ name: 'disk_gib', type: 'integer', nullable: true })
  diskGiB: number | null;

  @Column({ type: 'integer', nullable: true })
  snapshots: number | null;

  @Column({ name: 'backup_gib', type: 'integer', nullable: true })
  backupGiB: number | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
