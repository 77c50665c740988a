import {
  Column,
  CreateDateColumn,
  Entity,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import { AlertRule } from './alert-rule.entity';
import type { AlertState } from './alert-metrics';

/** One instance of a rule for one subject: pending → firing → resolved. */
@Entity('alerts')
export class Alert {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'rule_id', type: 'uuid' })
  ruleId: string;

  @ManyToOne(() => AlertRule, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'rule_id' })
  rule?: AlertRule;

  /** The mount, VM id or user id the value is about; '' for host-wide metrics. */
  @Column({ type: 'varchar', length: 255, default: '' })
  subject: string;

  @Column({ type: 'varchar', length: 8 })
  state: AlertState;

  /** The latest observed value while open; the last one that breached once resolved. */
  @Column({ type: 'double precision' })
  value: number;

  /** Since when the condition has held without a break. */
  @Column({ name: 'pending_since', type: 'timestamptz', precision: 3 })
  pendingSince: Date;

  @Column({ name: 'fired_at', type: 'timestamptz', precision: 3, nullable: true })
  firedAt: Date | null;

  @Column({ name: 'resolved_at', type: 'timestamptz', precision: 3, nullable: true })
  resolvedAt: Date | null;

  @Column({ name: 'acked_by', type: 'uuid', nullable: true })
  ackedBy: string | null;

  @Column({ name: 'acked_at', type: 'timestamptz', precision: 3, nullable: true })
  ackedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
