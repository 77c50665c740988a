import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { UserTotp } from './user-totp.entity';

/** The one owner of `user_totp`. The conditions in each write hold even without the caller's lock. */
@Injectable()
export class UserTotpRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** With `lock`, the row stays locked until `tx` ends. */
  find(userId: string, tx?: Tx, options: { lock?: boolean } = {}): Promise<UserTotp | null> {
    return this.manager(tx).findOne(UserTotp, {
      where: { userId },
      ...(options.lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
  }

  /** Starts (or restarts) an enrolment; false, and nothing written, if the factor is already enabled. */
  async savePending(userId: string, secretEncrypted: string, tx?: Tx): Promise<boolean> {
    const rows = await this.query<{ user_id: string }>(
      tx,
      `INSERT INTO user_totp AS t (user_id, secret_encrypted) VALUES ($1, $2)
       ON CONFLICT (user_id) DO UPDATE SET secret_encrypted = $2, last_used_step = NULL,
         recovery_code_hashes = '{}', created_at = now()
       WHERE t.confirmed_at IS NULL
       RETURNING user_id`,
      [userId, secretEncrypted],
    );
    return rows.length > 0;
  }

  /** Enables a pending factor with the step of the code that confirmed it and the recovery codes' hashes. */
  async confirm(tx: Tx, userId: string, step: number, recoveryCodeHashes: string[]): Promise<boolean> {
    return this.updated(
      tx,
      `UPDATE user_totp SET confirmed_at = now(), last_used_step = $2, recovery_code_hashes = $3
       WHERE user_id = $1 AND confirmed_at IS NULL RETURNING user_id`,
      [userId, step, recoveryCodeHashes],
    );
  }

  /** Records an accepted code's step; false if it is not later than the last accepted one (a replay). */
  acceptStep(tx: Tx, userId: string, step: number): Promise<boolean> {
    return this.updated(
      tx,
      `UPDATE user_totp SET last_used_step = $2
       WHERE user_id = $1 AND confirmed_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $2)
       RETURNING user_id`,
      [userId, step],
    );
  }

  /** Spends one recovery code; false if it is not one of the user's unused codes. */
  useRecoveryCode(tx: Tx, userId: string, hash: string): Promise<boolean> {
    return this.updated(
      tx,
      `UPDATE user_totp SET recovery_code_hashes = array_remove(recovery_code_hashes, $2)
       WHERE user_id = $1 AND confirmed_at IS NOT NULL AND $2 = ANY (recovery_code_hashes)
       RETURNING user_id`,
      [userId, hash],
    );
  }

  async replaceRecoveryCodes(tx: Tx, userId: string, hashes: string[]): Promise<void> {
    await this.query(tx, `UPDATE user_totp SET recovery_code_hashes = $2 WHERE user_id = $1`, [userId, hashes]);
  }

  /** Removes the factor (enabled or pending) and its recovery codes; false if there was none. */
  remove(userId: string, tx?: Tx): Promise<boolean> {
    return this.updated(tx, `DELETE FROM user_totp WHERE user_id = $1 RETURNING user_id`, [userId]);
  }

  private async updated(tx: Tx | undefined, text: string, values: unknown[]): Promise<boolean> {
    // TypeORM's postgres driver answers an UPDATE or DELETE ... RETURNING with [rows, rowCount].
    const [rows] = await this.query<unknown[]>(tx, text, values);
    return rows.length > 0;
  }
}
