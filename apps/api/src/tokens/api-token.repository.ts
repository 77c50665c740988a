import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { ApiToken } from './api-token.entity';

/** What the auth guard needs of a token, read by its secret's hash. */
export interface ApiTokenAccess {
  id: string;
  userId: string;
  scopes: readonly string[];
  expiresAt: Date | null;
  revokedAt: Date | null;
}

/** The one owner of the `api_tokens` table's SQL. */
@Injectable()
export class ApiTokenRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** Serialises token creation per owner until `tx` ends, so two creates cannot both pass the cap. */
  async lockOwner(userId: string, tx: Tx): Promise<void> {
    await this.query(tx, `SELECT pg_advisory_xact_lock(hashtext('api_tokens:' || $1))`, [userId]);
  }

  /** Tokens that still work: not revoked, not expired. */
  async countLive(userId: string, tx?: Tx): Promise<number> {
    const [row] = await this.query<{ count: number }>(
      tx,
      `SELECT count(*)::int AS count FROM api_tokens
       WHERE user_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
      [userId],
    );
    return row.count;
  }

  async add(token: ApiToken, tx?: Tx): Promise<ApiToken> {
    await this.insert(tx, token);
    return token;
  }

  /** A user's tokens (revoked ones included), newest first. */
  pageOf(userId: string, page: PageQueryDto): Promise<{ items: ApiToken[]; nextCursor: string | null }> {
    return paginate(this.manager().createQueryBuilder(ApiToken, 't').where('t.userId = :userId', { userId }), page);
  }

  find(id: string): Promise<ApiToken | null> {
    return this.manager().findOneBy(ApiToken, { id });
  }

  /** The auth guard's lookup when its cache cannot answer: a prepared statement on the pool. */
  async accessByHash(tokenHash: string): Promise<ApiTokenAccess | null> {
    const [row] = await this.prepared<{
      id: string;
      user_id: string;
      scopes: string[];
      expires_at: Date | null;
      revoked_at: Date | null;
    }>('api_token_access', 'SELECT id, user_id, scopes, expires_at, revoked_at FROM api_tokens WHERE token_hash = $1', [
      tokenHash,
    ]);
    return row
      ? { id: row.id, userId: row.user_id, scopes: row.scopes, expiresAt: row.expires_at, revokedAt: row.revoked_at }
      : null;
  }

  /** Sets revoked_at unless it is set already; the row as it now is (null when there is none). */
  async revoke(id: string): Promise<ApiToken | null> {
    await this.query(undefined, `UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, [id]);
    return this.find(id);
  }

  /** Revokes every live token of a user (disabled); how many. */
  async revokeAllOf(userId: string, tx?: Tx): Promise<number> {
    // An UPDATE answers [rows, count] through TypeORM.
    const [, count] = (await this.manager(tx).query(
      `UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`,
      [userId],
    )) as [unknown[], number];
    return count;
  }

  /** Records a use, unless one was recorded in the last minute (by any replica). */
  async touch(id: string, ip: string | null): Promise<void> {
    await this.query(
      undefined,
      `UPDATE api_tokens SET last_used_at = now(), last_used_ip = $2
       WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
      [id, ip],
    );
  }
}
