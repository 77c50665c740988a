import { Subject } from 'rxjs';
import type { AppConfig } from '../config/app-config';
import type { DatabaseEndpoint } from '../database/database-endpoint';
import type { UserAccessCache } from '../users/user-access-cache';
import { AccessEnd, UserAccessWatch } from '../users/user-access-watch';
import type { RefreshTokenRepository } from './refresh-token.repository';
import { SessionRevocations } from './session-revocations';

/** refresh_tokens as SessionRevocations reads it: which sessions ended, and when. */
class FakeRefreshTokens {
  readonly endedAt = new Map<string, Date>();
  /** How many single-session lookups reached the "database". */
  lookups = 0;
  failReads = 0;

  async sessionsEndedWithin(seconds: number): Promise<{ familyId: string; endedAt: Date }[]> {
    if (this.failReads > 0) {
      this.failReads--;
      throw new Error('connection refused');
    }
    return [...this.endedAt]
      .filter(([, at]) => at.getTime() > Date.now() - seconds * 1000)
      .map(([familyId, endedAt]) => ({ familyId, endedAt }));
  }

  async sessionEnded(familyId: string): Promise<boolean> {
    this.lookups++;
    return this.endedAt.has(familyId);
  }
}

describe('SessionRevocations (embedded database: one replica)', () => {
  let db: FakeRefreshTokens;
  let revocations: SessionRevocations;
  let watch: UserAccessWatch;

  beforeEach(() => {
    jest.useFakeTimers({ now: new Date('2026-12-01T08:00:00.000Z') });
    db = new FakeRefreshTokens();
    watch = new UserAccessWatch({ changes: new Subject<string | null>() } as unknown as UserAccessCache);
    revocations = new SessionRevocations(
      db as unknown as RefreshTokenRepository,
      { isEmbedded: true } as DatabaseEndpoint,
      watch,
      { accessTokenTtlSeconds: 900 } as AppConfig,
    );
  });

  /** A long-lived connection of `sessionId`; the returned list is why it ended, if it did. */
  function connection(sessionId: string): AccessEnd[] {
    const ends: AccessEnd[] = [];
    const expiresAt = new Date(Date.now() + 900_000);
    watch.watch({ userId: 'u', role: 'user', tokenVersion: 0, expiresAt, sessionId }, (why) => ends.push(why));
    return ends;
  }
  afterEach(async () => {
    await revocations.onApplicationShutdown();
    jest.useRealTimers();
  });

  it('asks the database until the start-up read is done (fail closed), then answers from memory', async () => {
    db.endedAt.set('ended-before-start', new Date(Date.now() - 60_000));
    expect(await revocations.isRevoked('ended-before-start')).toBe(true);
    expect(await revocations.isRevoked('live')).toBe(false);
    expect(db.lookups).toBe(2);

    await revocations.onApplicationBootstrap();
    expect(await revocations.isRevoked('ended-before-start')).toBe(true);
    expect(await revocations.isRevoked('live')).toBe(false);
    expect(db.lookups).toBe(2);
  });

  it('the start-up read brings every session ended within the token lifetime, and none older', async () => {
    db.endedAt.set('recent', new Date(Date.now() - 899_000));
    db.endedAt.set('long-ago', new Date(Date.now() - 3_600_000));
    await revocations.onApplicationBootstrap();
    expect(await revocations.isRevoked('recent')).toBe(true);
    expect(await revocations.isRevoked('long-ago')).toBe(false);
    expect(db.lookups).toBe(0);
  });

  it('refuses a session ended here at once, and forgets it once its access tokens have all expired', async () => {
    await revocations.onApplicationBootstrap();
    revocations.ended('signed-out');
    revocations.ended(null); // a logout that ended nothing
    expect(await revocations.isRevoked('signed-out')).toBe(true);
    // The lifetime (900 s) and the clock slack (60 s) later, the prune (every minute) drops it.
    await jest.advanceTimersByTimeAsync(900_000);
    expect(await revocations.isRevoked('signed-out')).toBe(true);
    await jest.advanceTimersByTimeAsync(120_000);
    expect(await revocations.isRevoked('signed-out')).toBe(false);
    expect(db.lookups).toBe(0);
  });

  it('keeps asking the database while the start-up read fails, and trusts memory once a retry succeeds', async () => {
    db.failReads = 2;
    db.endedAt.set('ended', new Date());
    await revocations.onApplicationBootstrap();
    expect(await revocations.isRevoked('live')).toBe(false);
    expect(db.lookups).toBe(1);
    await jest.advanceTimersByTimeAsync(1_000); // the first retry fails too
    expect(await revocations.isRevoked('live')).toBe(false);
    expect(db.lookups).toBe(2);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(await revocations.isRevoked('ended')).toBe(true);
    expect(await revocations.isRevoked('live')).toBe(false);
    expect(db.lookups).toBe(2);
  });

  it("ends a session's open connections when it ends here, and no other session's", async () => {
    await revocations.onApplicationBootstrap();
    const mine = connection('signed-out');
    const other = connection('live');
    await jest.advanceTimersByTimeAsync(0); // the check at watch time: both sessions live
    expect([mine, other]).toEqual([[], []]);
    revocations.ended('signed-out');
    expect(mine).toEqual(['revoked']);
    expect(other).toEqual([]);
  });

  it('ends a connection opened after its session ended (the request was checked just before)', async () => {
    await revocations.onApplicationBootstrap();
    revocations.ended('signed-out');
    const late = connection('signed-out');
    await jest.advanceTimersByTimeAsync(0);
    expect(late).toEqual(['revoked']);
  });

  it('ends the connections of sessions a (re)read finds ended', async () => {
    db.failReads = 1;
    await revocations.onApplicationBootstrap();
    const open = connection('ended-meanwhile');
    await jest.advanceTimersByTimeAsync(0);
    expect(open).toEqual([]);
    db.endedAt.set('ended-meanwhile', new Date());
    // Not by the watch-time check (asked before it ended): by the retried read.
    await jest.advanceTimersByTimeAsync(1_000);
    expect(open).toEqual(['revoked']);
  });
});
