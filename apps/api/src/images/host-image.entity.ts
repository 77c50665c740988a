import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** An image cached as a volume in a remote host's VM pool (local hosts use IMAGE_DIR in place). */
@Entity('host_images')
export class HostImage {
  @PrimaryColumn({ name: 'host_id', type: 'uuid' })
  hostId: string;

  @PrimaryColumn({ name: 'image_id', type: 'uuid' })
  imageId: string;

  /** imageVolumeName: named by content, so a changed image is uploaded again. */
  @Column({ type: 'text' })
  volume: string;

  /** The image's digest the volume is named by; the bytes sent were checked against it before `ready`. */
  @Column({ type: 'char', length: 64, nullable: true })
  sha256: string | null;

  @Column({ name: 'size_bytes', type: 'bigint', transformer: { to: (v: number) => v, from: (v: string) => Number(v) } })
  sizeBytes: number;

  /** `uploading` until the volume is complete and checked; only `ready` ones back disks. */
  @Column({ type: 'varchar', length: 12, default: 'uploading' })
  state: 'uploading' | 'ready';

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  /** Touched while an upload runs: an `uploading` row whose heartbeat stopped was left by a process that died. */
  @Column({ name: 'heartbeat_at', type: 'timestamptz', precision: 3 })
  heartbeatAt: Date;
}
