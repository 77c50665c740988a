import { LeasedThrottlerStorage, MAX_LEASE, WindowStore } from './leased-throttler-storage';
import { LEASE_SHARE, WindowLease } from './rate-limit-window.repository';

/** The lease statement of RateLimitWindowRepository, in memory: one store several replicas share. */
class MemoryWindowStore implements WindowStore {
  readonly windows = new Map<string, { hits: number; resetsAt: number }>();
  leases = 0;

  async lease(key: string, want: number, limit: number, ttlMs: number): Promise<WindowLease> {
    this.leases++;
    await new Promise((r) => setImmediate(r)); // a round trip: callers interleave meanwhile
    const now = Date.now();
    let w = this.windows.get(key);
    if (!w || w.resetsAt <= now) this.windows.set(key, (w = { hits: 0, resetsAt: now + ttlMs }));
    const left = limit - w.hits;
    const granted = Math.max(0, Math.min(want, left, Math.max(1, Math.floor(left / LEASE_SHARE))));
    w.hits += granted;
    return { granted, hits: w.hits, resetsInMs: w.resetsAt - now };
  }

  async deleteEnded(): Promise<void> {}
}

const TTL = 60_000;

describe('LeasedThrottlerStorage', () => {
  let store: MemoryWindowStore;
  let replicas: LeasedThrottlerStorage[];
  const hit = (replica: LeasedThrottlerStorage, limit: number, key = 'api-user:u1') =>
    replica.increment(key, TTL, limit, TTL, 'api-user');

  beforeEach(() => {
    store = new MemoryWindowStore();
    replicas = [new LeasedThrottlerStorage(store), new LeasedThrottlerStorage(store)];
  });
  afterEach(() => replicas.forEach((r) => r.onApplicationShutdown()));

  it('holds the limit in total across replicas, whichever replica each request reaches', async () => {
    const allowed = [0, 0];
    for (let i = 0; i < 40; i++) if (!(await hit(replicas[i % 2], 20)).isBlocked) allowed[i % 2]++;
    expect(allowed[0] + allowed[1]).toBe(20);
    // In-memory per-replica counting would have let each replica allow 20.
    expect(allowed[0]).toBeLessThan(20);
  });

  it('holds the limit under concurrent bursts on both replicas', async () => {
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => hit(replicas[i % 2], 100)));
    expect(results.filter((r) => !r.isBlocked)).toHaveLength(100);
  });

  it('asks the store once per lease, not once per request, for a busy user under a high limit', async () => {
    for (let i = 0; i < 5000; i++) expect((await hit(replicas[0], 1_000_000)).isBlocked).toBe(false);
    expect(store.leases).toBe(Math.ceil(5000 / MAX_LEASE));
  });

  it('lets concurrent requests of one key share one lease', async () => {
    await Promise.all(Array.from({ length: 50 }, () => hit(replicas[0], 1_000_000)));
    expect(store.leases).toBe(1);
  });

  it('refuses a spent window until it ends without asking the store again, with the time left', async () => {
    for (let i = 0; i < 3; i++) expect((await hit(replicas[0], 3)).isBlocked).toBe(false);
    const refused = await hit(replicas[0], 3);
    expect(refused).toEqual(expect.objectContaining({ isBlocked: true }));
    expect(refused.timeToBlockExpire).toBeGreaterThan(55);
    expect(refused.timeToBlockExpire).toBeLessThanOrEqual(60);
    const leases = store.leases;
    await hit(replicas[0], 3);
    expect(store.leases).toBe(leases);
  });

  it('starts a new window once the store says the old one ended', async () => {
    const short = (r: LeasedThrottlerStorage) => r.increment('auth-ip:1.2.3.4', 50, 2, 50, 'auth-ip');
    expect((await short(replicas[0])).isBlocked).toBe(false);
    expect((await short(replicas[1])).isBlocked).toBe(false);
    expect((await short(replicas[0])).isBlocked).toBe(true);
    await new Promise((r) => setTimeout(r, 60));
    expect((await short(replicas[0])).isBlocked).toBe(false);
  });

  it('counts keys apart', async () => {
    expect((await hit(replicas[0], 1, 'api-user:a')).isBlocked).toBe(false);
    expect((await hit(replicas[1], 1, 'api-user:b')).isBlocked).toBe(false);
    expect((await hit(replicas[1], 1, 'api-user:a')).isBlocked).toBe(true);
  });

  it('fails the request, not the limit, when the store is unreachable', async () => {
    const broken: WindowStore = { lease: () => Promise.reject(new Error('down')), deleteEnded: async () => {} };
    const replica = new LeasedThrottlerStorage(broken);
    await expect(hit(replica, 10)).rejects.toThrow('down');
    replica.onApplicationShutdown();
  });
});
