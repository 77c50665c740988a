import { Subject } from 'rxjs';
import { ApiTokenCache } from '../tokens/api-token-cache';
import { ApiTokenAccess, ApiTokenRepository } from '../tokens/api-token.repository';
import { hashSecret, newSecret } from '../tokens/api-token-secret';
import { UserAccessCache } from '../users/user-access-cache';
import { UserAccess } from '../users/user.repository';
import { ApiTokenStrategy } from './api-token.strategy';

class FakeTokens {
  readonly rows = new Map<string, ApiTokenAccess>();
  lookups = 0;
  touches: Array<[string, string | null]> = [];
  async accessByHash(hash: string): Promise<ApiTokenAccess | null> {
    this.lookups++;
    const row = this.rows.get(hash);
    return row ? { ...row } : null;
  }
  async touch(id: string, ip: string | null): Promise<void> {
    this.touches.push([id, ip]);
  }
}

function world() {
  const tokens = new FakeTokens();
  const users = new Map<string, UserAccess>([
    ['owner', { id: 'owner', username: 'owner', role: 'user', status: 'active', tokenVersion: 3 }],
  ]);
  const access = {
    changes: new Subject<string | null>(),
    trusted: true,
    get: async (id: string) => users.get(id) ?? null,
  };
  const cache = new ApiTokenCache(tokens as unknown as ApiTokenRepository, access as unknown as UserAccessCache);
  cache.onApplicationBootstrap();
  const strategy = new ApiTokenStrategy(
    cache,
    tokens as unknown as ApiTokenRepository,
    access as unknown as UserAccessCache,
  );
  const secret = newSecret();
  const row: ApiTokenAccess = { id: 't1', userId: 'owner', scopes: ['vms:read'], expiresAt: null, revokedAt: null };
  tokens.rows.set(hashSecret(secret), row);
  const req = (authorization?: string) => ({ headers: { authorization }, ip: '127.0.0.1' }) as never;
  return { tokens, users, access, strategy, secret, row, req };
}

describe('ApiTokenStrategy', () => {
  const refused = { status: 401, code: 'UNAUTHENTICATED' };

  it('passes over credentials that are not API tokens (the jwt strategy has them)', async () => {
    const { strategy, req } = world();
    expect(await strategy.validate(req())).toBeNull();
    expect(await strategy.validate(req('Bearer eyJhbGciOiJIUzI1NiJ9.e30.x'))).toBeNull();
  });

  it('authenticates as the owner with the token scopes, and sets the expiry for long-lived connections', async () => {
    const { strategy, secret, req } = world();
    const r = req(`Bearer ${secret}`) as { accessToken?: unknown };
    expect(await strategy.validate(r as never)).toEqual({
      id: 'owner',
      username: 'owner',
      role: 'user',
      via: 'token',
      scopes: ['vms:read'],
    });
    expect(r.accessToken).toEqual({ version: 3, expiresAt: new Date('9999-12-31T23:59:59.999Z') });
  });

  it('refuses a malformed, unknown, revoked or expired token and an inactive or deleted owner', async () => {
    const { strategy, secret, req, row, users, access } = world();
    await expect(strategy.validate(req('Bearer limen_pat_short'))).rejects.toMatchObject(refused);
    await expect(strategy.validate(req(`Bearer ${newSecret()}`))).rejects.toMatchObject(refused);
    row.expiresAt = new Date(Date.now() - 1);
    await expect(strategy.validate(req(`Bearer ${secret}`))).rejects.toMatchObject(refused);
    row.expiresAt = null;
    users.set('owner', { ...users.get('owner')!, status: 'disabled' });
    access.changes.next('owner');
    await expect(strategy.validate(req(`Bearer ${secret}`))).rejects.toMatchObject(refused);
    users.delete('owner');
    await expect(strategy.validate(req(`Bearer ${secret}`))).rejects.toMatchObject(refused);
    row.revokedAt = new Date();
    access.changes.next('owner');
    await expect(strategy.validate(req(`Bearer ${secret}`))).rejects.toMatchObject(refused);
  });

  it('serves repeats from the cache until the owner changes (a revocation), and checks the expiry every time', async () => {
    const { strategy, secret, req, row, tokens, access } = world();
    row.expiresAt = new Date(Date.now() + 60_000);
    for (let i = 0; i < 3; i++) await strategy.validate(req(`Bearer ${secret}`));
    expect(tokens.lookups).toBe(1);
    row.revokedAt = new Date();
    await strategy.validate(req(`Bearer ${secret}`)); // cached: the revocation has not been announced
    access.changes.next('owner');
    await expect(strategy.validate(req(`Bearer ${secret}`))).rejects.toMatchObject(refused);
    expect(tokens.lookups).toBe(2);
  });

  it('caches nothing while the user cache is not trusted (its listener is down)', async () => {
    const { strategy, secret, req, tokens, access } = world();
    access.trusted = false;
    for (let i = 0; i < 3; i++) await strategy.validate(req(`Bearer ${secret}`));
    expect(tokens.lookups).toBe(3);
  });

  it('records the use at most once a minute per token', async () => {
    const { strategy, secret, req, tokens } = world();
    for (let i = 0; i < 5; i++) await strategy.validate(req(`Bearer ${secret}`));
    expect(tokens.touches).toEqual([['t1', '127.0.0.1']]);
  });
});
