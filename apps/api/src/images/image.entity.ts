import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export const IMAGE_KINDS = ['iso', 'disk', 'kernel'] as const;
export type ImageKind = (typeof IMAGE_KINDS)[number];

export const IMAGE_VISIBILITIES = ['private', 'public'] as const;
export type ImageVisibility = (typeof IMAGE_VISIBILITIES)[number];

export const IMAGE_STATES = ['creating', 'ready'] as const;
export type ImageState = (typeof IMAGE_STATES)[number];

/** A bootable image found in IMAGE_DIR. Clients see its id, never its path. */
@Entity('images')
export class Image {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** The file or folder name inside IMAGE_DIR. */
  @Column({ type: 'varchar', length: 255 })
  name: string;

  @Column({ type: 'varchar', length: 8 })
  kind: ImageKind;

  /** Absolute path: the file (iso, disk) or the folder (kernel). Internal only. */
  @Column({ type: 'text', unique: true })
  path: string;

  /** qcow2 or raw, for disk images. */
  @Column({ type: 'varchar', length: 8, nullable: true })
  format: 'qcow2' | 'raw' | null;

  @Column({ name: 'size_bytes', type: 'bigint', transformer: { to: (v: number) => v, from: (v: string) => Number(v) } })
  sizeBytes: number;

  /**
   * Of the file's bytes (a kernel image: its kernel's, then its initrd's). Uploads record it; for a
   * file found in IMAGE_DIR it is computed when a remote host first needs the image (HostImageCache).
   */
  @Column({ type: 'char', length: 64, nullable: true })
  sha256: string | null;

  /** The file's fileStamp when `sha256` was computed: while it is the same, the digest holds without reading the file. */
  @Column({ name: 'sha256_stamp', type: 'text', nullable: true })
  sha256Stamp: string | null;

  /** False once a rescan no longer finds it (kept while VMs still reference it). */
  @Column({ type: 'boolean', default: true })
  available: boolean;

  /** What a template's maker says it is; empty for files in IMAGE_DIR. */
  @Column({ type: 'text', default: '' })
  description: string;

  /** Who made it (a template); null: found in IMAGE_DIR or uploaded by an admin. */
  @Column({ name: 'owner_id', type: 'uuid', nullable: true })
  ownerId: string | null;

  /** The VM a template was made from (kept after that VM is deleted). */
  @Column({ name: 'source_vm_id', type: 'uuid', nullable: true })
  sourceVmId: string | null;

  /** `private`: its owner (and admins) only; `public`: every user. Admins publish. */
  @Column({ type: 'varchar', length: 8, default: 'public' })
  visibility: ImageVisibility;

  /** `creating` while a template is written: not usable, not listed to others. */
  @Column({ type: 'varchar', length: 16, default: 'ready' })
  state: ImageState;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
