import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { UserRole } from '../users/user-role';
import { insufficientScope } from './auth-errors';
import { AuthUser, IS_PUBLIC, REQUIRED_ROLES } from './decorators';
import { requiredScope, SCOPE_RESOURCE, ScopeResource, scopeAllows } from './scopes';

/**
 * Global guard, after authentication: what an API token may do. Sessions pass untouched. A token
 * needs the scope of the route's resource (@ScopeResource; read for GET/HEAD, write otherwise),
 * plus `admin` on admin-only routes; a route with no resource is closed to tokens.
 */
@Injectable()
export class ScopeGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ user?: AuthUser; method: string }>();
    const user = req.user;
    if (user?.via !== 'token') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const resource = this.reflector.getAllAndOverride<ScopeResource | undefined>(SCOPE_RESOURCE, targets);
    if (!resource) throw insufficientScope('This route is not open to API tokens');
    const granted = user.scopes ?? [];
    const needed = requiredScope(resource, req.method);
    if (!scopeAllows(granted, needed)) throw insufficientScope(`This route needs the ${needed} scope`);
    const roles = this.reflector.getAllAndOverride<UserRole[] | undefined>(REQUIRED_ROLES, targets);
    if (roles?.includes('admin') && !granted.includes('admin'))
      throw insufficientScope(`This route needs the ${needed} and admin scopes`);
    return true;
  }
}
