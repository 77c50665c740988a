import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';
import { RATE_LIMITS_EXTENSION } from '../common/openapi-responses';
import type { UserRole } from '../users/user-role';

/** Who is calling, as established by the authentication guard from the database (not from token claims). */
export interface AuthUser {
  id: string;
  username: string;
  role: UserRole;
  /**
   * How: an access token of a sign-in session, or a personal API token (limited to its scopes).
   * The guard always sets it; absent (the api acting for a user itself, e.g. a schedule) counts as a session.
   */
  via?: 'session' | 'token';
  /** An API token's scopes; undefined for sessions, which carry every scope. */
  scopes?: readonly string[];
}

/**
 * The credential a request was authenticated with, as the guard verified it: what long-lived
 * connections (UserAccessWatch) recheck.
 */
export interface AccessTokenInfo {
  /** The user's token version it was issued with (for an API token: the owner's, when it was checked). */
  version: number;
  /** When it stops working (an API token without an expiry: far in the future). */
  expiresAt: Date;
  /**
   * The sign-in session (refresh-token family) it was issued in: its connections end when the
   * session does. Undefined for API tokens and for access tokens issued before they carried one.
   */
  sessionId?: string;
}

export const IS_PUBLIC = 'limen:public';
export const REQUIRED_ROLES = 'limen:roles';
export const IS_AUTH_ROUTE = 'limen:auth-route';

/** The route needs no access token. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);

/** The route needs one of these roles. */
export const Roles = (...roles: UserRole[]): MethodDecorator & ClassDecorator => SetMetadata(REQUIRED_ROLES, roles);

/** The route is a credential endpoint: limited per IP and per username instead of per user. */
export const AuthRoute = (): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(IS_AUTH_ROUTE, true), ApiExtension(RATE_LIMITS_EXTENSION, ['auth-ip', 'auth-user']));

export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext): AuthUser => {
  return context.switchToHttp().getRequest<{ user: AuthUser }>().user;
});

/** For connections that outlive their request: they must end when the token would be refused (UserAccessWatch). */
export const CurrentAccessToken = createParamDecorator((_data: unknown, context: ExecutionContext): AccessTokenInfo => {
  return context.switchToHttp().getRequest<{ accessToken: AccessTokenInfo }>().accessToken;
});
