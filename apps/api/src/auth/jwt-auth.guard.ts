import { CanActivate, ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { JwtService } from '@nestjs/jwt';
import type { Request } from 'express';
import { createSecretKey, KeyObject } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { UserAccessCache } from '../users/user-access-cache';
import { AccessTokenInfo, AuthUser, IS_PUBLIC } from './decorators';

export interface AccessTokenClaims {
  sub: string;
  role: string;
  /** The user's token version when issued; see User.tokenVersion. */
  ver: number;
  jti: string;
  /** Expiry, in seconds since the epoch. */
  exp: number;
}

const BEARER = /^\s*Bearer\s+(\S+)\s*$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function unauthenticated(): AppException {
  return new AppException(
    HttpStatus.UNAUTHORIZED,
    ErrorCode.UNAUTHENTICATED,
    'A valid bearer access token is required',
    {},
    { 'WWW-Authenticate': 'Bearer' },
  );
}

/** Also answers a request whose user was deleted after the guard let its token through. */
export function revokedToken(): AppException {
  return new AppException(
    HttpStatus.UNAUTHORIZED,
    ErrorCode.UNAUTHENTICATED,
    'The access token has been revoked',
    {},
    { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
  );
}

/**
 * Global guard: every route needs a valid bearer token unless marked @Public().
 *
 * Verifies the HS256 signature (no other algorithm, so alg:none is refused) and the expiry, then
 * checks the user as the database has it now: a disabled, deleted, re-roled or logged-out user
 * (token version bumped) is refused on the very next request, whatever the token's remaining
 * lifetime. The user comes from UserAccessCache, which every write to a user invalidates.
 *
 * Deliberately not passport: on the busiest read route passport's strategy machinery and the
 * TypeORM lookup behind it cost more than the route's own work (read-throughput bench).
 */
@Injectable()
export class JwtAuthGuard implements CanActivate {
  /** A KeyObject, not the string: given a string, jsonwebtoken first tries (and fails) to parse it as a public key on every verify. */
  private readonly key: KeyObject;

  constructor(
    private readonly reflector: Reflector,
    private readonly jwt: JwtService,
    private readonly users: UserAccessCache,
    config: AppConfig,
  ) {
    this.key = createSecretKey(Buffer.from(config.jwtSecret));
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const req = context.switchToHttp().getRequest<Request & { user?: AuthUser; accessToken?: AccessTokenInfo }>();
    const claims = this.verify(req.headers.authorization);
    return this.users.get(claims.sub).then((user) => {
      if (!user || user.status !== 'active' || user.tokenVersion !== claims.ver) throw revokedToken();
      req.user = { id: user.id, username: user.username, role: user.role };
      req.accessToken = { version: claims.ver, expiresAt: new Date(claims.exp * 1000) };
      return true;
    });
  }

  private verify(header: string | undefined): AccessTokenClaims {
    const token = header === undefined ? undefined : BEARER.exec(header)?.[1];
    if (!token) throw unauthenticated();
    let claims: Partial<AccessTokenClaims>;
    try {
      claims = this.jwt.verify<AccessTokenClaims>(token, {
        secret: this.key as unknown as string,
        algorithms: ['HS256'],
      });
    } catch {
      throw unauthenticated();
    }
    if (
      typeof claims.sub !== 'string' ||
      !UUID.test(claims.sub) ||
      typeof claims.ver !== 'number' ||
      typeof claims.exp !== 'number'
    )
      throw unauthenticated();
    return claims as AccessTokenClaims;
  }
}
