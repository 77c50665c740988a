import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, IsNull } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { RefreshToken } from './refresh-token.entity';

export type NewRefreshToken = Pick<RefreshToken, 'userId' | 'familyId' | 'tokenHash' | 'expiresAt'>;

/** The one owner (and writer) of `refresh_tokens`; auth and users both revoke through it. */
@Injectable()
export class RefreshTokenRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** Stores a live token (not revoked, not replaced) and returns its row, with id and createdAt. */
  async add(token: NewRefreshToken, tx?: Tx): Promise<RefreshToken> {
    const row = this.manager(tx).create(RefreshToken, { ...token, revokedAt: null, replacedById: null });
    await this.insert(tx, row);
    return row;
  }

  /** The token with this hash, its row locked until `tx` ends. */
  findByHashForUpdate(tx: Tx, tokenHash: string): Promise<RefreshToken | null> {
    return this.manager(tx).findOne(RefreshToken, { where: { tokenHash }, lock: { mode: 'pessimistic_write' } });
  }

  /** The token, its row locked until `tx` ends. */
  findForUpdate(tx: Tx, id: string): Promise<RefreshToken | null> {
    return this.manager(tx).findOne(RefreshToken, { where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  /** Records that `id` was rotated into `successorId`: revoked now, and presenting it again is reuse. */
  async markReplaced(tx: Tx, id: string, successorId: string): Promise<void> {
    await this.manager(tx).update(RefreshToken, { id }, { replacedById: successorId, revokedAt: new Date() });
  }

  /** Revokes the token with this hash, if it is live. */
  async revokeByHash(tokenHash: string): Promise<void> {
    await this.manager().update(RefreshToken, { tokenHash, revokedAt: IsNull() }, { revokedAt: new Date() });
  }

  /** Revokes every live token of one login (a detected reuse). */
  async revokeFamily(tx: Tx, familyId: string): Promise<void> {
    await this.query(tx, `UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`, [
      familyId,
    ]);
  }

  /** Revokes every live token of the user (signed out everywhere, disabled, new password). */
  async revokeAllOf(userId: string, tx?: Tx): Promise<void> {
    await this.query(tx, `UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, [
      userId,
    ]);
  }
}
