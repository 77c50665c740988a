import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/**
 * A personal API token: a long-lived bearer credential for automation, limited to its scopes.
 * Only the SHA-256 of the secret is stored (the secret is 256 random bits, so no slow hash is
 * needed); revoked rows are kept for the audit trail.
 */
@Entity('api_tokens')
export class ApiToken {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @Column({ type: 'varchar', length: 64 })
  name: string;

  @Column({ type: 'text', array: true })
  scopes: string[];

  /** Hex SHA-256 of the whole secret (`limen_pat_…`). */
  @Column({ name: 'token_hash', type: 'char', length: 64 })
  tokenHash: string;

  /** The secret's last 4 characters, to tell tokens apart in a list. */
  @Column({ type: 'varchar', length: 4 })
  hint: string;

  @Column({ name: 'expires_at', type: 'timestamptz', precision: 3, nullable: true })
  expiresAt: Date | null;

  @Column({ name: 'last_used_at', type: 'timestamptz', precision: 3, nullable: true })
  lastUsedAt: Date | null;

  @Column({ name: 'last_used_ip', type: 'varchar', length: 64, nullable: true })
  lastUsedIp: string | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', precision: 3, nullable: true })
  revokedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
