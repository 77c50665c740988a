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
