import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { AlertMetric, Comparator, Severity } from './alert-metrics';

/** "Alert when `metric` `comparator` `threshold` has held for `forSeconds`." */
@Entity('alert_rules')
export class AlertRule {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ type: 'varchar', length: 32 })
  metric: AlertMetric;

  @Column({ type: 'varchar', length: 2 })
  comparator: Comparator;

  @Column({ type: 'double precision' })
  threshold: number;

  @Column({ name: 'for_seconds', type: 'integer', default: 0 })
  forSeconds: number;

  @Column({ type: 'varchar', length: 8 })
  severity: Severity;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
