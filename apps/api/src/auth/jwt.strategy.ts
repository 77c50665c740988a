import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import { createSecretKey } from 'node:crypto';
import { Strategy } from 'passport-jwt';
import { AppConfig } from '../config/app-config';
import { UserAccessCache } from '../users/user-access-cache';
import { TOKEN_PREFIX } from '../tokens/api-token-secret';
import { bearerOf, revokedToken, unauthenticated } from './auth-errors';
import { AccessTokenInfo, AuthUser } from './decorators';
import { SessionRevocations } from './session-revocations';

export interface AccessTokenClaims {
  sub: string;
  role: string;
  /** The user's token version when issued; see User.tokenVersion. */
  ver: number;
  jti: string;
  /**
   * The session (refresh-token family) the token was issued in. Tokens issued before access tokens
   * carried it have none and are accepted: they all expire within the access-token lifetime
   * (15 minutes by default) of the upgrade, and every token issued since has one.
   */
  sid?: string;
  /** Expiry, in seconds since the epoch. */
  exp: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The bearer credential unless it is an API token (the 'api-token' strategy's), which is no JWT. */
function accessTokenOf(req: Request): string | null {
  const token = bearerOf(req.headers.authorization);
  return token === null || token.startsWith(TOKEN_PREFIX) ? null : token;
}

/**
 * The sign-in session's access token (passport-jwt): an HS256 signature (no other algorithm, so
 * alg:none is refused) and the expiry, then the user as the database has it now: a disabled,
 * deleted, re-roled or logged-out user (token version bumped), and a session that was revoked or
 * signed out, are refused on the very next request, whatever the token's remaining lifetime. The
 * user comes from UserAccessCache, which every write to a user invalidates (on every replica), and
 * the session from SessionRevocations, kept current the same way: the hot path makes no database
 * lookup.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    private readonly users: UserAccessCache,
    private readonly sessions: SessionRevocations,
    config: AppConfig,
  ) {
    super({
      jwtFromRequest: accessTokenOf,
      // A KeyObject, not the string: given a string, jsonwebtoken first tries (and fails) to parse
      // it as a public key on every verify.
      secretOrKey: createSecretKey(Buffer.from(config.jwtSecret)) as unknown as string,
      algorithms: ['HS256'],
      passReqToCallback: true,
    });
  }

  async validate(
    req: Request & { accessToken?: AccessTokenInfo },
    claims: Partial<AccessTokenClaims>,
  ): Promise<AuthUser> {
    if (
      typeof claims.sub !== 'string' ||
      !UUID.test(claims.sub) ||
      typeof claims.ver !== 'number' ||
      typeof claims.exp !== 'number' ||
      (claims.sid !== undefined && (typeof claims.sid !== 'string' || !UUID.test(claims.sid)))
    )
      throw unauthenticated();
    if (claims.sid !== undefined && (await this.sessions.isRevoked(claims.sid))) throw revokedToken();
    const user = await this.users.get(claims.sub);
    if (!user || user.status !== 'active' || user.tokenVersion !== claims.ver) throw revokedToken();
    req.accessToken = { version: claims.ver, expiresAt: new Date(claims.exp * 1000), sessionId: claims.sid };
    return { id: user.id, username: user.username, role: user.role, via: 'session' };
  }
}
