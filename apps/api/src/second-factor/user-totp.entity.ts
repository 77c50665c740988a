import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

const bigintAsNumber = {
  to: (value: number | null) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};

/** A user's TOTP factor: pending until confirmed with a code, enabled after. */
@Entity('user_totp')
export class UserTotp {
  @PrimaryColumn({ name: 'user_id', type: 'uuid' })
  userId: string;

  /** AES-256-GCM under a key derived from JWT_SECRET (TotpCodes); never answered after enrolment. */
  @Column({ name: 'secret_encrypted', type: 'text' })
  secretEncrypted: string;

  @Column({ name: 'confirmed_at', type: 'timestamptz', precision: 3, nullable: true })
  confirmedAt: Date | null;

  /** The time step of the last accepted code: a code must be of a later step (no replay). */
  @Column({ name: 'last_used_step', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  lastUsedStep: number | null;

  /** HMAC-SHA256 of each unused recovery code; a used one is removed. */
  @Column({ name: 'recovery_code_hashes', type: 'text', array: true })
  recoveryCodeHashes: string[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;
}

/** For the users module's `totpEnabled` (a read-only column of User): whether the factor is on. */
export function totpEnabledQuery(userAlias: string): string {
  return `SELECT EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = ${userAlias}.id AND t.confirmed_at IS NOT NULL)`;
}
