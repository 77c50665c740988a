import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { NicModel } from '@limen/libvirt';

/** One NIC of a VM; its id is the hypervisor device's alias, so it can be unplugged by id. */
@Entity('vm_nics')
export class VmNic {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'vm_id', type: 'uuid' })
  vmId: string;

  @Column({ name: 'network_id', type: 'uuid' })
  networkId: string;

  /** Lower-case, unique across the installation. */
  @Column({ type: 'varchar', length: 17, unique: true })
  mac: string;

  @Column({ type: 'varchar', length: 16, default: 'virtio' })
  model: NicModel;

  /** Order of the NICs in the domain (0 first). */
  @Column({ type: 'smallint' })
  position: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
