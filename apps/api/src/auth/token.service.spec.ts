import { JwtService } from '@nestjs/jwt';
import { randomUUID } from 'node:crypto';
import type { AuditRepository } from '../audit/audit.repository';
import { AuditService } from '../audit/audit.service';
import type { AppConfig } from '../config/app-config';
import { ErrorCode } from '../common/problem';
import type { Transactions, Tx } from '../database/transaction';
import { User } from '../users/user.entity';
import type { UserRepository } from '../users/user.repository';
import { RefreshToken } from './refresh-token.entity';
import type { NewRefreshToken, RefreshTokenRepository } from './refresh-token.repository';
import type { SessionRevocations } from './session-revocations';
import { TokenService } from './token.service';

/** refresh_tokens in memory; rows are copies, as the database would hand them out. */
class FakeRefreshTokens implements Pick<
  RefreshTokenRepository,
  'add' | 'findByHashForUpdate' | 'findForUpdate' | 'markReplaced' | 'revokeByHash' | 'revokeFamily'
> {
  readonly rows = new Map<string, RefreshToken>();

  async add(token: NewRefreshToken): Promise<RefreshToken> {
    const row = Object.assign(new RefreshToken(), {
      ...token,
      id: randomUUID(),
      revokedAt: null,
      replacedById: null,
      createdAt: new Date(),
    });
    this.rows.set(row.id, row);
    return { ...row };
  }

  async findByHashForUpdate(_tx: Tx, tokenHash: string): Promise<RefreshToken | null> {
    const row = [...this.rows.values()].find((r) => r.tokenHash === tokenHash);
    return row ? { ...row } : null;
  }

  async findForUpdate(_tx: Tx, id: string): Promise<RefreshToken | null> {
    const row = this.rows.get(id);
    return row ? { ...row } : null;
  }

  async markReplaced(_tx: Tx, id: string, successorId: string): Promise<void> {
    Object.assign(this.rows.get(id)!, { replacedById: successorId, revokedAt: new Date() });
  }

  async revokeByHash(tokenHash: string): Promise<string | null> {
    const row = [...this.rows.values()].find((r) => r.tokenHash === tokenHash && r.revokedAt === null);
    if (!row) return null;
    row.revokedAt = new Date();
    return row.familyId;
  }

  async revokeFamily(_tx: Tx, familyId: string): Promise<void> {
    for (const row of this.rows.values()) if (row.familyId === familyId) row.revokedAt ??= new Date();
  }
}

const GRACE_SECONDS = 10;

describe('TokenService refresh-token rotation', () => {
  let tokens: FakeRefreshTokens;
  let user: User;
  let service: TokenService;
  /** The sessions TokenService reported ended, in order. */
  let ended: Array<string | null>;

  beforeEach(() => {
    jest.useFakeTimers({ now: new Date('2026-12-01T08:00:00.000Z') });
    tokens = new FakeRefreshTokens();
    ended = [];
    user = Object.assign(new User(), { id: randomUUID(), username: 'alice', role: 'user', status: 'active' });
    user.tokenVersion = 0;
    const users = { find: async (id: string) => (id === user.id ? { ...user } : null) } as unknown as UserRepository;
    const transactions = { run: (work: (tx: Tx) => Promise<unknown>) => work({} as Tx) } as unknown as Transactions;
    const config = {
      jwtSecret: 'a test secret that is long enough to sign with',
      accessTokenTtlSeconds: 900,
      refreshTokenTtlDays: 30,
      refreshReuseGraceSeconds: GRACE_SECONDS,
    } as AppConfig;
    service = new TokenService(
      new JwtService({ secret: config.jwtSecret }),
      config,
      tokens as unknown as RefreshTokenRepository,
      users,
      transactions,
      new AuditService({} as AuditRepository),
      { ended: (sessionId: string | null) => ended.push(sessionId) } as unknown as SessionRevocations,
    );
  });
  afterEach(() => jest.useRealTimers());

  it('exchanges a refresh token for a new pair, and that one for the next', async () => {
    const first = await service.issuePair(user);
    const second = await service.rotate(first.refreshToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);
    const third = await service.rotate(second.refreshToken);
    expect(third.refreshToken).not.toBe(second.refreshToken);
  });

  it('an access token names its session (the refresh-token family) as `sid`, and keeps it across rotations', async () => {
    const sidOf = (accessToken: string) => new JwtService().decode<{ sid: string; jti: string }>(accessToken).sid;
    const first = await service.issuePair(user);
    const [row] = tokens.rows.values();
    expect(sidOf(first.accessToken)).toBe(row.familyId);
    expect(sidOf((await service.rotate(first.refreshToken)).accessToken)).toBe(row.familyId);
    expect(sidOf((await service.issuePair(user)).accessToken)).not.toBe(row.familyId);
  });

  it('logout with the live refresh token ends its session; with a spent or unknown one, none', async () => {
    const first = await service.issuePair(user);
    const [row] = tokens.rows.values();
    const second = await service.rotate(first.refreshToken);
    await service.revoke(first.refreshToken);
    await service.revoke('made-up');
    expect(ended).toEqual([null, null]);
    await service.revoke(second.refreshToken);
    expect(ended).toEqual([null, null, row.familyId]);
  });

  it('security 11.16: within the grace, a rotated token answers the very pair its rotation did (two tabs)', async () => {
    const first = await service.issuePair(user);
    const rotated = await service.rotate(first.refreshToken);
    jest.advanceTimersByTime((GRACE_SECONDS - 1) * 1000);
    expect(await service.rotate(first.refreshToken)).toEqual(rotated);
  });

  it('a rotated token presented after the grace is reuse: 401 REFRESH_TOKEN_REUSED and the whole family revoked', async () => {
    const first = await service.issuePair(user);
    const second = await service.rotate(first.refreshToken);
    jest.advanceTimersByTime(GRACE_SECONDS * 1000);
    await expect(service.rotate(first.refreshToken)).rejects.toMatchObject({
      code: ErrorCode.REFRESH_TOKEN_REUSED,
      status: 401,
    });
    await expect(service.rotate(second.refreshToken)).rejects.toMatchObject({ code: ErrorCode.INVALID_REFRESH_TOKEN });
    // Its access tokens, whoever holds them, are refused too.
    expect(ended).toEqual([tokens.rows.get([...tokens.rows.keys()][0])!.familyId]);
  });

  it('reuse of a token whose successor was itself rotated is reuse, even within the grace', async () => {
    const first = await service.issuePair(user);
    const second = await service.rotate(first.refreshToken);
    await service.rotate(second.refreshToken);
    await expect(service.rotate(first.refreshToken)).rejects.toMatchObject({ code: ErrorCode.REFRESH_TOKEN_REUSED });
  });

  it('refuses an unknown, logged-out or expired token, and one whose user is no longer active', async () => {
    const invalid = { code: ErrorCode.INVALID_REFRESH_TOKEN, status: 401 };
    await expect(service.rotate('made-up')).rejects.toMatchObject(invalid);

    const loggedOut = await service.issuePair(user);
    await service.revoke(loggedOut.refreshToken);
    await expect(service.rotate(loggedOut.refreshToken)).rejects.toMatchObject(invalid);

    const expiring = await service.issuePair(user);
    jest.advanceTimersByTime(30 * 86_400_000);
    await expect(service.rotate(expiring.refreshToken)).rejects.toMatchObject(invalid);

    const disabled = await service.issuePair(user);
    user.status = 'disabled';
    await expect(service.rotate(disabled.refreshToken)).rejects.toMatchObject(invalid);
  });

  it('logout of an unknown token is silent', async () => {
    await expect(service.revoke('made-up')).resolves.toBeUndefined();
  });
});
