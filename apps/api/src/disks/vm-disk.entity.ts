import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { DiskBus } from '@limen/libvirt';

/** One disk of a VM: a volume in its host's VM pool. Its id is the device alias's, so it can be unplugged by id. */
@Entity('vm_disks')
export class VmDisk {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'vm_id', type: 'uuid' })
  vmId: string;

  /** Order in the domain (0: the boot disk, which cannot be removed). */
  @Column({ type: 'smallint' })
  position: number;

  @Column({ name: 'size_gib', type: 'integer' })
  sizeGiB: number;

  @Column({ type: 'varchar', length: 8, default: 'virtio' })
  bus: DiskBus;

  @Column({ name: 'boot_index', type: 'smallint', nullable: true })
  bootIndex: number | null;

  /** What the guest sees as the disk's serial (/dev/disk/by-id/virtio-<serial>). */
  @Column({ type: 'varchar', length: 20 })
  serial: string;

  /** The volume's name in the host's VM pool (diskVolumeName); internal only. */
  @Column({ type: 'text' })
  volume: string;

  /** A linked clone's disk: the read-only volume (same pool) it is an overlay of; deleted with the last disk over it. */
  @Column({ name: 'base_volume', type: 'text', nullable: true })
  baseVolume: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
