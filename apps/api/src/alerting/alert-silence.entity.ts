import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** Until `until`, notifications for this rule and subject are not sent (state changes still are recorded). */
@Entity('alert_silences')
export class AlertSilence {
  @PrimaryColumn({ name: 'rule_id', type: 'uuid' })
  ruleId: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  subject: string;

  @Column({ type: 'timestamptz', precision: 3 })
  until: Date;

  @Column({ name: 'created_by', type: 'uuid', nullable: true })
  createdBy: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
