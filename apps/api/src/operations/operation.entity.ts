import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { OperationKind, OperationParams } from './operation-kinds';

export const OPERATION_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];
export const TERMINAL_STATUSES: readonly OperationStatus[] = ['succeeded', 'failed', 'cancelled'];

export interface OperationError {
  code: string;
  detail: string;
}

/**
 * Background work against a hypervisor. At most one pending or running per VM (a partial unique index).
 * `Operation<'vm.create'>` is one of that kind, with its params typed (see OperationParams).
 */
@Entity('operations')
export class Operation<K extends OperationKind = OperationKind> {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 32 })
  kind: K;

  @Column({ type: 'varchar', length: 16 })
  status: OperationStatus;

  @Column({ name: 'owner_id', type: 'uuid' })
  ownerId: string;

  @Column({ name: 'vm_id', type: 'uuid', nullable: true })
  vmId: string | null;

  @Column({ type: 'jsonb', default: {} })
  params: OperationParams[K];

  @Column({ type: 'jsonb', nullable: true })
  result: Record<string, unknown> | null;

  @Column({ type: 'jsonb', nullable: true })
  error: OperationError | null;

  /** The api process executing it; with heartbeatAt, lets another process take over from a dead one. */
  @Column({ name: 'claimed_by', type: 'varchar', length: 64, nullable: true })
  claimedBy: string | null;

  @Column({ name: 'heartbeat_at', type: 'timestamptz', precision: 3, nullable: true })
  heartbeatAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @Column({ name: 'started_at', type: 'timestamptz', precision: 3, nullable: true })
  startedAt: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', precision: 3, nullable: true })
  finishedAt: Date | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
