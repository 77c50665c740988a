import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';
import { RATE_LIMITS_EXTENSION } from '../common/openapi-responses';
import type { UserRole } from '../users/user-role';

/** Who is calling, as established by the JWT guard from the database (not from token claims). */
export interface AuthUser {
  id: string;
  username: string;
  role: UserRole;
}

/** The access token a request was authenticated with, as the JWT guard verified it. */
export interface AccessTokenInfo {
  /** The user's token version it was issued with. */
  version: number;
  expiresAt: Date;
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
