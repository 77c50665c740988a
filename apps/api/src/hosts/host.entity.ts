import type { StoragePoolInfo } from '@limen/libvirt';
import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export const HOST_ADAPTERS = ['libvirt', 'qemu-direct'] as const;
export type HostAdapter = (typeof HOST_ADAPTERS)[number];
export type HostStatus = 'up' | 'down' | 'unknown';

/** A host's storage as the monitor last read it (hosts.storage). */
export interface HostStorageRecord {
  pools: StoragePoolInfo[];
  /** ISO time of the reading. */
  checkedAt: string;
  /** Why the host's VM pool could not be set up or read, if it could not. */
  problem: string | null;
}

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

  /**
   * Folder of the host's VM pool (limen-vms), checked against STORAGE_ROOTS at registration and
   * fixed from then on; null: VM_DIR (hosts on this machine, see effectiveStoragePath).
   */
  @Column({ name: 'storage_path', type: 'text', nullable: true })
  storagePath: string | null;

  /** Owned by the hosts module: written by the host monitor only. */
  @Column({ type: 'jsonb', nullable: true })
  storage: HostStorageRecord | null;

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
