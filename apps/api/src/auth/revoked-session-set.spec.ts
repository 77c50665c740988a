import { RevokedSessionSet } from './revoked-session-set';

describe('RevokedSessionSet', () => {
  const KEEP_MS = 960_000;

  it('holds a session from its end until keepMs after it, then forgets it on prune', () => {
    const set = new RevokedSessionSet(KEEP_MS);
    set.add('a', 1_000);
    expect(set.has('a')).toBe(true);
    expect(set.has('b')).toBe(false);
    set.prune(1_000 + KEEP_MS - 1);
    expect(set.has('a')).toBe(true);
    set.prune(1_000 + KEEP_MS);
    expect(set.has('a')).toBe(false);
    expect(set.size).toBe(0);
  });

  it('prunes only the sessions old enough, and a later end time of the same session wins', () => {
    const set = new RevokedSessionSet(KEEP_MS);
    set.add('old', 0);
    set.add('new', 500_000);
    set.add('again', 0);
    set.add('again', 500_000);
    set.add('again', 100); // an earlier report (the start-up read) does not shorten it
    set.prune(KEEP_MS);
    expect(set.has('old')).toBe(false);
    expect(set.has('new')).toBe(true);
    expect(set.has('again')).toBe(true);
    expect(set.size).toBe(2);
    set.prune(500_000 + KEEP_MS);
    expect(set.size).toBe(0);
  });
});
