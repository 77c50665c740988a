import { Subject } from 'rxjs';
import { UserAccessCache } from './user-access-cache';
import { AccessEnd, UserAccessWatch } from './user-access-watch';

const DAY_MS = 86_400_000;

describe('UserAccessWatch expiry', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function watchUntil(expiresAt: Date): AccessEnd[] {
    const watch = new UserAccessWatch({ changes: new Subject<string | null>() } as unknown as UserAccessCache);
    const ends: AccessEnd[] = [];
    watch.watch({ userId: 'u', role: 'user', tokenVersion: 0, expiresAt }, (why) => ends.push(why));
    return ends;
  }

  it('ends a connection at an expiry beyond what one setTimeout can wait (an API token of 30 days), not at once', () => {
    const ends = watchUntil(new Date(Date.now() + 30 * DAY_MS));
    jest.advanceTimersByTime(1_000);
    expect(ends).toEqual([]);
    jest.advanceTimersByTime(30 * DAY_MS - 2_000);
    expect(ends).toEqual([]);
    jest.advanceTimersByTime(1_000);
    expect(ends).toEqual(['expired']);
  });

  it('keeps a connection of a token that never expires', () => {
    const ends = watchUntil(new Date('9999-12-31T23:59:59.999Z'));
    jest.advanceTimersByTime(100 * DAY_MS);
    expect(ends).toEqual([]);
  });
});

describe('UserAccessWatch sessions', () => {
  const expiresAt = new Date(Date.now() + 900_000);
  let watch: UserAccessWatch;
  beforeEach(() => {
    watch = new UserAccessWatch({ changes: new Subject<string | null>() } as unknown as UserAccessCache);
  });
  afterEach(() => watch.onApplicationShutdown());

  function open(sessionId: string | undefined, ends: string[], name: string): () => void {
    return watch.watch({ userId: 'u', role: 'user', tokenVersion: 0, expiresAt, sessionId }, (why) =>
      ends.push(`${name}:${why}`),
    );
  }

  it("ends only the ended session's connections, each once; API-token connections (no session) are left", () => {
    const ends: string[] = [];
    open('s1', ends, 'a');
    open('s1', ends, 'b');
    open('s2', ends, 'c');
    open(undefined, ends, 'token');
    watch.sessionEnded('s1');
    watch.sessionEnded('s1');
    expect(ends).toEqual(['a:revoked', 'b:revoked']);
  });

  it('forgets a connection that stopped watching', () => {
    const ends: string[] = [];
    const unwatch = open('s1', ends, 'a');
    unwatch();
    watch.sessionEnded('s1');
    expect(ends).toEqual([]);
  });

  it('asks the session check once per new watch and ends the connection when it says revoked', async () => {
    const asked: string[] = [];
    watch.checkSessionsWith(async (sessionId) => {
      asked.push(sessionId);
      return sessionId === 'gone';
    });
    const ends: string[] = [];
    open('gone', ends, 'a');
    open('live', ends, 'b');
    open(undefined, ends, 'token');
    await new Promise(setImmediate);
    expect(asked).toEqual(['gone', 'live']);
    expect(ends).toEqual(['a:revoked']);
  });
});
