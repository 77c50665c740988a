import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** `creating` until every file is written and verified; only `ready` backups are listed. */
export const BACKUP_STATES = ['creating', 'ready', 'restoring', 'deleting', 'failed'] as const;
export type BackupState = (typeof BACKUP_STATES)[number];

/** `filesystem`: taken with the guest's filesystems frozen through its agent; `crash`: as after a power cut. */
export const BACKUP_CONSISTENCIES = ['filesystem', 'crash'] as const;
export type BackupConsistency = (typeof BACKUP_CONSISTENCIES)[number];

/** One disk of a backup: a compressed standalone qcow2 in the backup store. */
export interface BackupDiskManifest {
  /** The disk's position in the VM (0: the boot disk). */
  position: number;
  /** The file's name in the backup's folder. */
  file: string;
  sizeGiB: number;
  bus: string;
  serial: string;
  bootIndex: number | null;
  /** The file's size and SHA-256, checked before any restore. */
  sizeBytes: number;
  sha256: string;
  virtualSizeBytes: number;
}

/** What a backup holds besides the disks' bytes: enough to make the VM again. */
export interface BackupManifest {
  formatVersion: 1;
  vm: {
    id: string;
    name: string;
    description: string;
    vcpus: number;
    memoryMiB: number;
    imageId: string;
    bootOrder: string[];
    nics: Array<{ networkId: string | null; model?: string }>;
  };
  consistency: BackupConsistency;
  disks: BackupDiskManifest[];
  createdAt: string;
}

/** A backup of a VM in the backup store (BACKUP_DIR); outlives its VM, counts against its owner's `backupGiB`. */
@Entity('backups')
export class Backup {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** The VM it was taken of; kept after that VM is deleted (no foreign key). */
  @Column({ name: 'vm_id', type: 'uuid', nullable: true })
  vmId: string | null;

  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @Column({ name: 'vm_name', type: 'varchar', length: 64 })
  vmName: string;

  /** The schedule that made it (retention applies to those only). */
  @Column({ name: 'schedule_id', type: 'uuid', nullable: true })
  scheduleId: string | null;

  @Column({ type: 'varchar', length: 16 })
  state: BackupState;

  @Column({ type: 'varchar', length: 16, nullable: true })
  consistency: BackupConsistency | null;

  /** Bytes in the store (reserved while creating, measured once written): what `backupGiB` counts. */
  @Column({ name: 'size_bytes', type: 'bigint', transformer: { to: (v: number) => v, from: (v: string) => Number(v) } })
  sizeBytes: number;

  @Column({ type: 'jsonb', nullable: true })
  manifest: BackupManifest | null;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', precision: 3, nullable: true })
  completedAt: Date | null;
}
