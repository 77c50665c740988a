import { HttpStatus } from '@nestjs/common';
import type { AuditRepository } from '../audit/audit.repository';
import { AuditService } from '../audit/audit.service';
import type { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import type { LockoutPolicy, LoginFailureRepository } from '../users/login-failure.repository';
import { LoginLockout } from '../users/login-lockout';
import type { PasswordHasher } from '../users/password-hasher';
import type { UserAccessCache } from '../users/user-access-cache';
import { User } from '../users/user.entity';
import type { UserRepository } from '../users/user.repository';
import type { UsersService } from '../users/users.service';
import type { LoginChallenges } from '../second-factor/login-challenges';
import { AuthService } from './auth.service';
import { CredentialChecks } from '../users/credential-checks';
import type { RefreshTokenRepository } from './refresh-token.repository';
import type { TokenService } from './token.service';

describe('AuthService.me', () => {
  function serviceWhoseUserLookupThrows(error: unknown): AuthService {
    const users = { get: () => Promise.reject(error) } as unknown as UsersService;
    const unused = undefined as never;
    return new AuthService(unused, users, unused, unused, unused, unused, unused, unused, unused);
  }

  it('answers 401 UNAUTHENTICATED, not 404, when the token outlived its user (deleted on another replica)', async () => {
    const me = serviceWhoseUserLookupThrows(AppException.notFound('User')).me('0b7a7f3e-0000-4000-8000-000000000000');
    await expect(me).rejects.toMatchObject({ code: ErrorCode.UNAUTHENTICATED });
    await expect(me).rejects.toHaveProperty('status', HttpStatus.UNAUTHORIZED);
  });

  it('passes any other failure through unchanged', async () => {
    const failure = new Error('database down');
    await expect(serviceWhoseUserLookupThrows(failure).me('0b7a7f3e-0000-4000-8000-000000000000')).rejects.toBe(
      failure,
    );
  });
});

/** login_failures in memory, with the semantics of LoginFailureRepository's statements. */
class FakeLoginFailures implements Pick<LoginFailureRepository, 'lockedUntil' | 'recordFailure' | 'clear'> {
  private readonly rows = new Map<string, { count: number; lastFailedAt: number; lockedUntil: number | null }>();

  async lockedUntil(username: string, client: string): Promise<Date | null> {
    const lockedUntil = this.rows.get(`${username} ${client}`)?.lockedUntil;
    return lockedUntil && lockedUntil > Date.now() ? new Date(lockedUntil) : null;
  }

  async recordFailure(username: string, client: string, { threshold, minutes }: LockoutPolicy): Promise<Date | null> {
    const now = Date.now();
    const windowMs = minutes * 60_000;
    const row = this.rows.get(`${username} ${client}`);
    const count = row && row.lastFailedAt > now - windowMs ? row.count + 1 : 1;
    const locks = count >= threshold;
    const lockedUntil = locks ? now + windowMs : (row?.lockedUntil ?? null);
    this.rows.set(`${username} ${client}`, { count: locks ? 0 : count, lastFailedAt: now, lockedUntil });
    return lockedUntil === null ? null : new Date(lockedUntil);
  }

  async clear(username: string, client: string): Promise<void> {
    this.rows.delete(`${username} ${client}`);
  }
}

describe('AuthService.login and the lock-out', () => {
  const threshold = 3;
  const attacker = '203.0.113.7';
  const owner = '198.51.100.2';
  let verified: number;
  let users: Map<string, User>;
  let auth: AuthService;

  beforeEach(() => {
    jest.useFakeTimers({ now: new Date('2026-12-01T08:00:00.000Z') });
    verified = 0;
    users = new Map();
    const user = (username: string, status: User['status']) =>
      users.set(
        username,
        Object.assign(new User(), { id: `id-${username}`, username, passwordHash: 'hash:right', status }),
      );
    user('alice', 'active');
    user('pat', 'pending');
    user('dan', 'disabled');
    const config = { lockoutThreshold: threshold, lockoutMinutes: 15 } as AppConfig;
    const hasher = {
      hash: async (password: string) => `hash:${password}`,
      verify: async (hash: string, password: string) => (verified++, hash === `hash:${password}`),
    } as PasswordHasher;
    const userRows = { findWithPasswordHash: async (name: string) => users.get(name) ?? null } as UserRepository;
    const tokens = { issuePair: async (u: User) => ({ accessToken: `access-${u.id}` }) } as unknown as TokenService;
    const lockout = new LoginLockout(config, new FakeLoginFailures() as unknown as LoginFailureRepository);
    const unused = undefined as never;
    auth = new AuthService(
      config,
      unused,
      tokens,
      userRows,
      unused,
      new AuditService({} as AuditRepository),
      unused,
      new CredentialChecks(hasher, userRows, lockout),
      { demandSecondFactor: async () => undefined } as unknown as LoginChallenges,
    );
  });
  afterEach(() => jest.useRealTimers());

  const login = (username: string, password: string, ip: string) => auth.login({ username, password }, { ip });
  const failure = (code: string) => expect.objectContaining({ code });

  it('security 11.13: failures from one address lock that name for that address only, even for the right password', async () => {
    for (let i = 1; i < threshold; i++)
      await expect(login('alice', 'wrong', attacker)).rejects.toEqual(failure('INVALID_CREDENTIALS'));
    const locking = login('Alice', 'wrong', attacker);
    await expect(locking).rejects.toEqual(failure('ACCOUNT_LOCKED'));
    await expect(locking).rejects.toMatchObject({ status: 429, headers: { 'Retry-After': '900' } });

    const before = verified;
    await expect(login('alice', 'right', attacker)).rejects.toEqual(failure('ACCOUNT_LOCKED'));
    expect(verified).toBe(before); // a locked name cannot be probed
    await expect(login('alice', 'right', owner)).resolves.toEqual({ accessToken: 'access-id-alice' });

    jest.advanceTimersByTime(15 * 60_000);
    await expect(login('alice', 'right', attacker)).resolves.toBeDefined();
  });

  it('security 11.13: a name that belongs to no account fails and locks exactly like one that does', async () => {
    for (let i = 1; i < threshold; i++)
      await expect(login('nobody', 'wrong', attacker)).rejects.toEqual(failure('INVALID_CREDENTIALS'));
    await expect(login('nobody', 'wrong', attacker)).rejects.toEqual(failure('ACCOUNT_LOCKED'));
    expect(verified).toBe(threshold); // the dummy hash costs the same verify
  });

  it('a success forgets that address’s failures', async () => {
    for (let i = 1; i < threshold; i++) await login('alice', 'wrong', attacker).catch(() => undefined);
    await login('alice', 'right', attacker);
    await expect(login('alice', 'wrong', attacker)).rejects.toEqual(failure('INVALID_CREDENTIALS'));
  });

  it('tells pending and disabled accounts apart only to whoever knows the password', async () => {
    await expect(login('pat', 'wrong', owner)).rejects.toEqual(failure('INVALID_CREDENTIALS'));
    await expect(login('pat', 'right', owner)).rejects.toEqual(failure('ACCOUNT_PENDING'));
    await expect(login('dan', 'right', owner)).rejects.toEqual(failure('ACCOUNT_DISABLED'));
  });
});

describe('AuthService.logoutEverywhere', () => {
  it('revokes every access token (token version), the cached access and every refresh token of the user', async () => {
    const calls: string[] = [];
    const users = { bumpTokenVersion: async (id: string) => void calls.push(`bump ${id}`) } as UserRepository;
    const access = { changed: async (id: string) => void calls.push(`changed ${id}`) } as UserAccessCache;
    const refreshTokens = {
      revokeAllOf: async (id: string) => void calls.push(`revoke ${id}`),
    } as unknown as RefreshTokenRepository;
    const unused = undefined as never;
    await new AuthService(
      unused,
      unused,
      unused,
      users,
      refreshTokens,
      unused,
      access,
      unused,
      unused,
    ).logoutEverywhere('u1');
    expect(calls).toEqual(['bump u1', 'changed u1', 'revoke u1']);
  });
});
