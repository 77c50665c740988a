import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { BootDevice, GuestAgentState, GuestOsInfo } from '@limen/libvirt';
import type { DesiredState, VmState } from './vm-state';

/** One address of a VM, as `source` reported it. */
export interface VmAddress {
  nicId: string;
  mac: string;
  ip: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
  source: 'lease' | 'agent' | 'arp' | 'user-mode';
}

@Entity('vms')
export class Vm {
  /** Chosen by the api before the row exists: the domain name and folder derive from it. */
  @PrimaryColumn('uuid')
  id: string;

  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @Column({ name: 'host_id', type: 'uuid', nullable: true })
  hostId: string | null;

  /** Unique per owner; the user's label, never used for domain names or paths. */
  @Column({ type: 'varchar', length: 63 })
  name: string;

  @Column({ type: 'text', default: '' })
  description: string;

  @Column({ type: 'integer' })
  vcpus: number;

  @Column({ name: 'memory_mib', type: 'integer' })
  memoryMiB: number;

  /**
   * The vCPUs and memory (maxima) the running domain booted with; null while it is not running.
   * A resize of a running VM applies at its next boot, so until then both count (QuotaLedger).
   */
  @Column({ name: 'running_vcpus', type: 'integer', nullable: true })
  runningVcpus: number | null;

  @Column({ name: 'running_memory_mib', type: 'integer', nullable: true })
  runningMemoryMiB: number | null;

  /** The sum of its disks' sizes (vm_disks), kept here for quota sums. */
  @Column({ name: 'disk_gib', type: 'integer' })
  diskGiB: number;

  @Column({ name: 'image_id', type: 'uuid' })
  imageId: string;

  /** The ISO currently in the CD-ROM drive, if any. */
  @Column({ name: 'media_image_id', type: 'uuid', nullable: true })
  mediaImageId: string | null;

  @Column({ name: 'boot_order', type: 'jsonb', default: ['hd'] })
  bootOrder: BootDevice[];

  @Column({ type: 'varchar', length: 16 })
  state: VmState;

  /** What the hypervisor and the guest agent last reported (see networks/vm-addresses). */
  @Column({ type: 'jsonb', default: [] })
  addresses: VmAddress[];

  @Column({ name: 'guest_agent', type: 'varchar', length: 16, default: 'absent' })
  guestAgent: GuestAgentState;

  /** From the guest agent, once it has answered. */
  @Column({ type: 'jsonb', nullable: true })
  os: GuestOsInfo | null;

  /** Started again by the sweep when its host comes back and the domain is not running. */
  @Column({ type: 'boolean', default: false })
  autostart: boolean;

  /** What the user last asked for (create/start/resume → running; stop/shutdown/guest power-off → stopped). */
  @Column({ name: 'desired_state', type: 'varchar', length: 16, default: 'stopped' })
  desiredState: DesiredState;

  /** Failed autostart attempts in a row, and when the next may happen (backoff). */
  @Column({ name: 'start_attempts', type: 'integer', default: 0 })
  startAttempts: number;

  @Column({ name: 'next_start_at', type: 'timestamptz', precision: 3, nullable: true })
  nextStartAt: Date | null;

  @Column({ name: 'last_start_error', type: 'text', nullable: true })
  lastStartError: string | null;

  @Column({ name: 'state_reason', type: 'text', nullable: true })
  stateReason: string | null;

  /** Bumped by every change (every write in VmRepository bumps it); the ETag. */
  @Column({ type: 'integer', default: 1 })
  version: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
