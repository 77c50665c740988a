import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { Severity } from './alert-metrics';

export const CHANNEL_TYPES = ['webhook', 'email', 'log'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

/** Where firing and resolved notifications go. */
@Entity('alert_channels')
export class AlertChannel {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ type: 'varchar', length: 8 })
  type: ChannelType;

  /** webhook only: where the JSON body is POSTed. */
  @Column({ type: 'text', nullable: true })
  url: string | null;

  /** webhook only: the HMAC-SHA256 key. Never selected unless asked for, never returned by the API. */
  @Column({ type: 'text', nullable: true, select: false })
  secret: string | null;

  /** email only: the addresses. */
  @Column({ type: 'jsonb', default: () => `'[]'` })
  recipients: string[];

  /** Alerts below this severity are not sent here. */
  @Column({ name: 'min_severity', type: 'varchar', length: 8, default: 'info' })
  minSeverity: Severity;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
