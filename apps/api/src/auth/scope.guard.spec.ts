import { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthUser, Public, Roles } from './decorators';
import { ScopeGuard } from './scope.guard';
import { requiredScope, SCOPES, ScopeResource, scopeAllows } from './scopes';

@ScopeResource('vms')
class VmsLike {
  list(): void {}
  @Roles('admin')
  adminOnly(): void {}
  @ScopeResource('images')
  images(): void {}
}

class Unscoped {
  any(): void {}
  @Public()
  open(): void {}
}

function context(target: object, handler: string, method: string, user?: AuthUser): ExecutionContext {
  const req = { method, user };
  return {
    getHandler: () => (target as Record<string, unknown>)[handler],
    getClass: () => target.constructor,
    switchToHttp: () => ({ getRequest: () => req }),
  } as unknown as ExecutionContext;
}

const token = (...scopes: string[]): AuthUser => ({ id: 'u', username: 'u', role: 'admin', via: 'token', scopes });
const session: AuthUser = { id: 'u', username: 'u', role: 'user', via: 'session' };

describe('ScopeGuard', () => {
  const guard = new ScopeGuard(new Reflector());
  const vms = new VmsLike();
  const unscoped = new Unscoped();
  const check = (target: object, handler: string, method: string, user?: AuthUser) => () =>
    guard.canActivate(context(target, handler, method, user));
  const refused = { status: 403, code: 'INSUFFICIENT_SCOPE' };

  it('lets sessions and unauthenticated (public) requests through untouched', () => {
    expect(check(vms, 'list', 'POST', session)()).toBe(true);
    expect(check(unscoped, 'any', 'DELETE', session)()).toBe(true);
    expect(check(unscoped, 'open', 'GET')()).toBe(true);
    expect(check(unscoped, 'open', 'GET', token())()).toBe(true);
  });

  it("needs the route resource's read scope for GET/HEAD and write for the rest; write implies read", () => {
    expect(check(vms, 'list', 'GET', token('vms:read'))()).toBe(true);
    expect(check(vms, 'list', 'HEAD', token('vms:read'))()).toBe(true);
    expect(check(vms, 'list', 'GET', token('vms:write'))()).toBe(true);
    expect(check(vms, 'list', 'POST', token('vms:write'))()).toBe(true);
    expect(check(vms, 'list', 'POST', token('vms:read'))).toThrow(expect.objectContaining(refused));
    expect(check(vms, 'list', 'PATCH', token('images:write', 'admin'))).toThrow(
      expect.objectContaining({ ...refused, detail: 'This route needs the vms:write scope' }),
    );
    expect(check(vms, 'list', 'GET', token())).toThrow(expect.objectContaining(refused));
  });

  it('takes the handler resource over the controller one', () => {
    expect(check(vms, 'images', 'GET', token('images:read'))()).toBe(true);
    expect(check(vms, 'images', 'GET', token('vms:write'))).toThrow(expect.objectContaining(refused));
  });

  it('needs the admin scope too on admin-only routes', () => {
    expect(check(vms, 'adminOnly', 'GET', token('vms:read'))).toThrow(expect.objectContaining(refused));
    expect(check(vms, 'adminOnly', 'GET', token('vms:read', 'admin'))()).toBe(true);
    expect(check(vms, 'adminOnly', 'GET', token('admin'))).toThrow(expect.objectContaining(refused));
  });

  it('closes routes without a resource to tokens, whatever their scopes', () => {
    expect(check(unscoped, 'any', 'GET', token(...SCOPES))).toThrow(
      expect.objectContaining({ ...refused, detail: 'This route is not open to API tokens' }),
    );
  });
});

describe('scopes', () => {
  it('is one list of <resource>:read|write plus admin, without duplicates', () => {
    expect(new Set(SCOPES).size).toBe(SCOPES.length);
    for (const scope of SCOPES) expect(scope).toMatch(/^(admin|[a-z-]+:(read|write))$/);
    expect(SCOPES).toContain('admin');
  });

  it('maps methods to read or write and lets write imply read only', () => {
    expect(requiredScope('vms', 'GET')).toBe('vms:read');
    expect(requiredScope('vms', 'DELETE')).toBe('vms:write');
    expect(scopeAllows(['vms:write'], 'vms:read')).toBe(true);
    expect(scopeAllows(['vms:read'], 'vms:write')).toBe(false);
    expect(scopeAllows(['images:write'], 'vms:read')).toBe(false);
    expect(scopeAllows(['admin'], 'users:read')).toBe(false);
  });
});
