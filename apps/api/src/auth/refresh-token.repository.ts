import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { RefreshToken } from './refresh-token.entity';

export type NewRefreshToken = Pick<RefreshToken, 'userId' | 'familyId' | 'tokenHash' | 'expiresAt'> &
  Partial<Pick<RefreshToken, 'createdIp' | 'userAgent'>>;

/** One live session: a refresh-token family with a live (unspent, unrevoked, unexpired) token. */
export interface LiveSession {
  familyId: string;
  /** The sign-in. */
  createdAt: Date;
  /** The last rotation (or the sign-in, if never refreshed). */
  lastUsedAt: Date;
  createdIp: string | null;
  userAgent: string | null;
}

/** The one owner (and writer) of `refresh_tokens`; auth and users both revoke through it. */
@Injectable()
export class RefreshTokenRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** Stores a live token (not revoked, not replaced) and returns its row, with id and createdAt. */
  async add(token: NewRefreshToken, tx?: Tx): Promise<RefreshToken> {
    const row = this.manager(tx).create(RefreshToken, {
      createdIp: null,
      userAgent: null,
      ...token,
      revokedAt: null,
      replacedById: null,
    });
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

  /** Revokes the token with this hash, if it is live; its family (the session it ends), or null when none was. */
  async revokeByHash(tokenHash: string): Promise<string | null> {
    // TypeORM's postgres driver answers an UPDATE ... RETURNING with [rows, rowCount].
    const [rows] = await this.query<{ family_id: string }[]>(
      undefined,
      `UPDATE refresh_tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL RETURNING family_id`,
      [tokenHash],
    );
    return rows[0]?.family_id ?? null;
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

  /** The user's live sessions, most recently used first. */
  async liveSessionsOf(userId: string): Promise<LiveSession[]> {
    const rows = await this.query<{
      family_id: string;
      created_at: Date;
      last_used_at: Date;
      created_ip: string | null;
      user_agent: string | null;
    }>(
      undefined,
      `SELECT DISTINCT ON (h.family_id) h.family_id, h.created_ip, h.user_agent, h.created_at AS last_used_at,
         (SELECT min(f.created_at) FROM refresh_tokens f WHERE f.family_id = h.family_id) AS created_at
       FROM refresh_tokens h
       WHERE h.user_id = $1 AND h.revoked_at IS NULL AND h.expires_at > now()
       ORDER BY h.family_id, h.created_at DESC`,
      [userId],
    );
    return rows
      .map((row) => ({
        familyId: row.family_id,
        createdAt: new Date(row.created_at),
        lastUsedAt: new Date(row.last_used_at),
        createdIp: row.created_ip,
        userAgent: row.user_agent,
      }))
      .sort((a, b) => b.lastUsedAt.getTime() - a.lastUsedAt.getTime());
  }

  /** The family of the token with this id (an access token's `jti`), if the token exists. */
  async familyOf(tokenId: string): Promise<string | null> {
    const rows = await this.query<{ family_id: string }>(
      undefined,
      `SELECT family_id FROM refresh_tokens WHERE id = $1`,
      [tokenId],
    );
    return rows[0]?.family_id ?? null;
  }

  /** Revokes the user's family if it has a live token; false when it has none (not theirs, or over). */
  async revokeLiveFamilyOf(userId: string, familyId: string): Promise<boolean> {
    // TypeORM's postgres driver answers an UPDATE ... RETURNING with [rows, rowCount].
    const [rows] = await this.query<{ id: string }[]>(
      undefined,
      `UPDATE refresh_tokens SET revoked_at = now()
       WHERE user_id = $1 AND family_id = $2 AND revoked_at IS NULL AND expires_at > now() RETURNING id`,
      [userId, familyId],
    );
    return rows.length > 0;
  }

  /** Revokes every live token of the family the token with this hash belongs to (a browser's sign-out); that family, or null when it had none. */
  async revokeFamilyByHash(tokenHash: string): Promise<string | null> {
    const [rows] = await this.query<{ family_id: string }[]>(
      undefined,
      `UPDATE refresh_tokens SET revoked_at = now()
       WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1) AND revoked_at IS NULL
       RETURNING family_id`,
      [tokenHash],
    );
    return rows[0]?.family_id ?? null;
  }

  /**
   * The sessions ended within the last `seconds`, with when: a family ends when its live token is
   * revoked (a token revoked without being rotated; see the session-revocations migration).
   */
  async sessionsEndedWithin(seconds: number): Promise<{ familyId: string; endedAt: Date }[]> {
    const rows = await this.query<{ family_id: string; ended_at: Date }>(
      undefined,
      `SELECT family_id, max(revoked_at) AS ended_at FROM refresh_tokens
       WHERE replaced_by_id IS NULL AND revoked_at > now() - make_interval(secs => $1)
       GROUP BY family_id`,
      [seconds],
    );
    return rows.map((row) => ({ familyId: row.family_id, endedAt: new Date(row.ended_at) }));
  }

  /** Whether the session (refresh-token family) has ended: revoked or signed out. */
  async sessionEnded(familyId: string): Promise<boolean> {
    const rows = await this.query(
      undefined,
      `SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND replaced_by_id IS NULL AND revoked_at IS NOT NULL LIMIT 1`,
      [familyId],
    );
    return rows.length > 0;
  }
}
