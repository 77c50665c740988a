import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

export const NETWORK_KINDS = ['nat', 'isolated', 'bridge', 'user'] as const;
export type NetworkKind = (typeof NETWORK_KINDS)[number];

/**
 * A network VMs attach NICs to. `nat` and `isolated` are libvirt networks LIMEN defines on each
 * host that needs them (`libvirtName`, `bridge` = the bridge libvirt creates); `bridge` is an
 * existing host bridge (`bridge`, optional `vlan`); `user` is QEMU user-mode networking per VM.
 */
@Entity('networks')
export class Network {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** Unique; a-z 0-9 -, the admin's label. Never used in libvirt names or paths. */
  @Column({ type: 'varchar', length: 63, unique: true })
  name: string;

  @Column({ type: 'varchar', length: 16 })
  kind: NetworkKind;

  @Column({ type: 'text', default: '' })
  description: string;

  /** IPv4 subnet of nat and isolated networks, e.g. `10.77.0.0/24`. */
  @Column({ type: 'cidr', nullable: true })
  cidr: string | null;

  @Column({ type: 'inet', nullable: true })
  gateway: string | null;

  @Column({ name: 'dhcp_start', type: 'inet', nullable: true })
  dhcpStart: string | null;

  @Column({ name: 'dhcp_end', type: 'inet', nullable: true })
  dhcpEnd: string | null;

  @Column({ type: 'varchar', length: 15, nullable: true })
  bridge: string | null;

  @Column({ type: 'integer', nullable: true })
  vlan: number | null;

  /** `limen-net-…`, derived from the id, for nat and isolated networks. */
  @Column({ name: 'libvirt_name', type: 'varchar', length: 63, nullable: true, unique: true })
  libvirtName: string | null;

  /** Whether every user may attach VMs to it; otherwise admins only. */
  @Column({ type: 'boolean', default: true })
  public: boolean;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
