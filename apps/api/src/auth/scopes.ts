import { SetMetadata } from '@nestjs/common';

/**
 * What an API token may be allowed to do: the one list, documented in docs/api-guide.md.
 *
 * A route belongs to one scope resource (`@ScopeResource('vms')` on its controller or handler).
 * GET and HEAD need `<resource>:read`; every other method needs `<resource>:write`, which also
 * grants read. Routes that only admins may call also need the `admin` scope. A token never gives
 * more than its owner has: an `admin`-scoped token of a user who is not an admin is refused.
 * Sessions (password or OIDC sign-in) carry every scope.
 */
export const SCOPE_RESOURCES = [
  // VMs and everything under /vms/{id}: disks, NICs, port forwards, snapshots, backups,
  // schedules, consoles, clones and their operations.
  'vms',
  'images',
  'networks',
  'ssh-keys',
  // Operations and the event stream: read only; what they show is already limited to the owner.
  'events',
  // The caller's own API tokens (creating one needs tokens:write).
  'tokens',
  // The caller's own account: profile, password, second factor, sessions, quota.
  'account',
  // Admin areas: each also needs the `admin` scope (and an admin owner).
  // Users, their roles, status and quotas.
  'users',
  // Hypervisor hosts and the host metrics agent behind /agent.
  'hosts',
  // Alerts, alert rules and alert channels.
  'alerts',
  // The audit log (read only).
  'audit',
] as const;
export type ScopeResource = (typeof SCOPE_RESOURCES)[number];

export const SCOPES = [...SCOPE_RESOURCES.flatMap((r) => [`${r}:read`, `${r}:write`] as const), 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export const SCOPE_RESOURCE = 'limen:scope-resource';

/** Which scope resource the routes of this controller (or this handler) belong to. */
export const ScopeResource = (resource: ScopeResource): MethodDecorator & ClassDecorator =>
  SetMetadata(SCOPE_RESOURCE, resource);

/** The scope a request with this method on a route of `resource` needs. */
export function requiredScope(resource: ScopeResource, method: string): Scope {
  return method === 'GET' || method === 'HEAD' ? `${resource}:read` : `${resource}:write`;
}

/** Whether `granted` allows `needed` (write implies read). */
export function scopeAllows(granted: readonly string[], needed: Scope): boolean {
  if (granted.includes(needed)) return true;
  return needed.endsWith(':read') && granted.includes(needed.replace(/:read$/, ':write'));
}
