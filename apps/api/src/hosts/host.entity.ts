import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export const HOST_ADAPTERS = ['libvirt', 'qemu-direct'] as const;
export type HostAdapter = (typeof HOST_ADAPTERS)[number];
export type HostStatus = 'up' | 'down' | 'unknown';

/** A hypervisor host LIMEN places VMs on. */
@Entity('hosts')
export class Host {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 63, unique: true })
  name: string;

  @Column({ type: 'varchar', length: 16 })
  adapter: HostAdapter;

  /** libvirt: qemu:///system, qemu+ssh://user@host/system, qemu+tls://… */
  @Column({ name: 'libvirt_uri', type: 'text', nullable: true })
  libvirtUri: string | null;

  /** qemu-direct: where its domain specs, sockets and pidfiles live. */
  @Column({ name: 'state_dir', type: 'text', nullable: true })
  stateDir: string | null;

  /** Folder of the host's VM pool (limen-vms); null: VM_DIR on the local host, the default root elsewhere. */
  @Column({ name: 'storage_path', type: 'text', nullable: true })
  storagePath: string | null;

  @Column({ name: 'agent_url', type: 'text', nullable: true })
  agentUrl: string | null;

  /** AES-256-GCM; see HostSecrets. Never returned by the API. */
  @Column({ name: 'agent_token_encrypted', type: 'text', nullable: true })
  agentTokenEncrypted: string | null;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  /** No new VMs are placed on a host in maintenance; its running VMs stay. */
  @Column({ type: 'boolean', default: false })
  maintenance: boolean;

  @Column({ type: 'varchar', length: 8, default: 'unknown' })
  status: HostStatus;

  @Column({ name: 'status_reason', type: 'text', nullable: true })
  statusReason: string | null;

  @Column({ type: 'integer', nullable: true })
  cpus: number | null;

  @Column({ name: 'memory_mib', type: 'integer', nullable: true })
  memoryMiB: number | null;

  @Column({ name: 'last_seen_at', type: 'timestamptz', precision: 3, nullable: true })
  lastSeenAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
