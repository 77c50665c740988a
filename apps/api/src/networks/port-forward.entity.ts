import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { PortProtocol } from '@limen/libvirt';

/** A host port forwarded to a port of a VM's user-mode NIC. Host ports are unique per protocol. */
@Entity('port_forwards')
export class PortForward {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'vm_id', type: 'uuid' })
  vmId: string;

  @Column({ name: 'nic_id', type: 'uuid' })
  nicId: string;

  @Column({ type: 'varchar', length: 3 })
  protocol: PortProtocol;

  @Column({ name: 'guest_port', type: 'integer' })
  guestPort: number;

  @Column({ name: 'host_address', type: 'inet' })
  hostAddress: string;

  @Column({ name: 'host_port', type: 'integer' })
  hostPort: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
