import { Injectable, Logger } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import { Strategy } from 'passport-custom';
import { ApiTokenCache } from '../tokens/api-token-cache';
import { ApiTokenRepository } from '../tokens/api-token.repository';
import { hashSecret, TOKEN_FORMAT, TOKEN_PREFIX } from '../tokens/api-token-secret';
import { UserAccessCache } from '../users/user-access-cache';
import { bearerOf, invalidApiToken } from './auth-errors';
import { AccessTokenInfo, AuthUser } from './decorators';

/** last_used_at is written at most this often per token (and the database checks it again). */
const TOUCH_EVERY_MS = 60_000;
const MAX_TOUCHED = 10_000;
/** What long-lived connections see as the expiry of a token that has none. */
const NEVER = new Date('9999-12-31T23:59:59.999Z');

/**
 * Personal API tokens (`Authorization: Bearer limen_pat_…`). The token comes from ApiTokenCache
 * and its owner from UserAccessCache, both per replica and dropped on every replica when either
 * changes (a revocation calls UserAccessCache.changed(owner)), so a request costs no database
 * lookup and a revoked token is refused on its next request. The expiry is checked every time.
 */
@Injectable()
export class ApiTokenStrategy extends PassportStrategy(Strategy, 'api-token') {
  private readonly logger = new Logger('ApiTokenStrategy');
  /** When each token's use was last written from this replica. */
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly tokens: ApiTokenCache,
    private readonly repository: ApiTokenRepository,
    private readonly users: UserAccessCache,
  ) {
    super();
  }

  /** Null (not this strategy's credential) lets passport try the next one. */
  async validate(req: Request & { accessToken?: AccessTokenInfo }): Promise<AuthUser | null> {
    const secret = bearerOf(req.headers.authorization);
    if (secret === null || !secret.startsWith(TOKEN_PREFIX)) return null;
    if (!TOKEN_FORMAT.test(secret)) throw invalidApiToken();
    const token = await this.tokens.get(hashSecret(secret));
    const now = Date.now();
    if (!token || token.revokedAt || (token.expiresAt && token.expiresAt.getTime() <= now)) throw invalidApiToken();
    const user = await this.users.get(token.userId);
    if (!user || user.status !== 'active') throw invalidApiToken();
    this.touch(token.id, req.ip ?? null, now);
    req.accessToken = { version: user.tokenVersion, expiresAt: token.expiresAt ?? NEVER };
    return { id: user.id, username: user.username, role: user.role, via: 'token', scopes: token.scopes };
  }

  /** Records the use in the background, at most once a minute per token: the request does not wait. */
  private touch(id: string, ip: string | null, now: number): void {
    const last = this.touched.get(id);
    if (last !== undefined && now - last < TOUCH_EVERY_MS) return;
    if (this.touched.size >= MAX_TOUCHED) this.touched.clear();
    this.touched.set(id, now);
    this.repository
      .touch(id, ip)
      .catch((error: Error) => this.logger.warn(`could not record the use of API token ${id}: ${error.message}`));
  }
}
