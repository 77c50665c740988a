import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn, VirtualColumn } from 'typeorm';
import { totpEnabledQuery } from '../second-factor/user-totp.entity';
import type { UserRole } from './user-role';

export const USER_STATUSES = ['pending', 'active', 'disabled'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

@Entity('users')
export class User {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** Always stored lower-case; a unique index on lower(username) backs it up. */
  @Column({ type: 'varchar', length: 32 })
  username: string;

  @Column({ name: 'password_hash', type: 'text', select: false })
  passwordHash: string;

  @Column({ type: 'varchar', length: 16 })
  role: UserRole;

  @Column({ type: 'varchar', length: 16 })
  status: UserStatus;

  /**
   * Copied into every access token as `ver`; bumping it (password, role or
   * status change) revokes all of the user's outstanding access tokens at once.
   */
  @Column({ name: 'token_version', type: 'integer', default: 0 })
  tokenVersion: number;

  /** Read-only: whether the user's TOTP factor is on (user_totp, owned by the second-factor module). Unset on a row just inserted. */
  @VirtualColumn({ type: 'boolean', query: totpEnabledQuery })
  totpEnabled?: boolean;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
