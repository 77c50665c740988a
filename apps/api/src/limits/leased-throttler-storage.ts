import { Logger, OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { WindowLease } from './rate-limit-window.repository';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** The shared side: leases hits of a window that every replica counts against (RateLimitWindowRepository). */
export interface WindowStore {
  lease(key: string, want: number, limit: number, ttlMs: number): Promise<WindowLease>;
  deleteEnded(): Promise<void>;
}

interface LocalWindow {
  /** Hits leased from the store and not spent yet. */
  leased: number;
  /** The store's count for the window at the last lease (every replica's leases). */
  hits: number;
  /** When the window ends (local clock, from the store's remaining time). */
  resetsAt: number;
  /** The store granted nothing: refused here until the window ends, without asking again. */
  spent: boolean;
  leasing?: Promise<void>;
}

/** At most this many hits per lease: a busy user costs one round trip per this many requests. */
export const MAX_LEASE = 1000;
const SWEEP_MS = 60_000;
const STORE_SWEEP_MS = 5 * 60_000;

/**
 * Fixed-window rate limits that hold across replicas without a database round trip per request.
 * A replica leases hits of a window from the shared store in one atomic statement, then spends
 * them locally (a Map lookup, like FixedWindowThrottlerStorage); it asks again only when its
 * lease is spent. A lease takes at most MAX_LEASE hits and at most 1/LEASE_SHARE of what is left
 * of the window, so near the limit leases shrink to one hit each. The store never grants more
 * than the limit in a window: the total across replicas never exceeds it. The price is the other
 * way: hits leased by a replica that then gets no more traffic go unused, so a user who moves
 * between replicas may be refused a little early (at most 1/8 of the remaining budget per
 * replica, capped at MAX_LEASE).
 *
 * A window starts with the first hit on any replica and lasts `ttl`; once spent, the key is
 * refused until it ends (the Retry-After), and refused hits are not counted.
 */
export class LeasedThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimits');
  private readonly windows = new Map<string, LocalWindow>();
  private readonly sweeper = setInterval(() => this.sweep(), SWEEP_MS).unref();
  private readonly storeSweeper = setInterval(
    () => void this.store.deleteEnded().catch((e: Error) => this.logger.warn(`cleanup failed: ${e.message}`)),
    STORE_SWEEP_MS,
  ).unref();

  constructor(private readonly store: WindowStore) {}

  async increment(
    key: string,
    ttl: number,
    limit: number,
    _blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    const id = `${throttlerName}:${key}`;
    for (;;) {
      const now = Date.now();
      let window = this.windows.get(id);
      if (window && window.resetsAt <= now && !window.leasing) {
        this.windows.delete(id);
        window = undefined;
      }
      if (window?.spent) return this.record(window, now, true);
      if (window && window.leased > 0) {
        window.leased--;
        return this.record(window, now, false);
      }
      if (!window) {
        window = { leased: 0, hits: 0, resetsAt: now + ttl, spent: false };
        this.windows.set(id, window);
      }
      // One lease at a time per key: concurrent requests wait for it, then spend what it got.
      window.leasing ??= this.lease(id, window, ttl, limit);
      await window.leasing;
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
    clearInterval(this.storeSweeper);
    this.windows.clear();
  }

  private async lease(id: string, window: LocalWindow, ttl: number, limit: number): Promise<void> {
    try {
      const lease = await this.store.lease(id, MAX_LEASE, limit, ttl);
      window.leased += lease.granted;
      window.hits = lease.hits;
      window.resetsAt = Date.now() + lease.resetsInMs;
      window.spent = lease.granted === 0;
    } finally {
      window.leasing = undefined;
    }
  }

  private record(window: LocalWindow, now: number, isBlocked: boolean): ThrottlerStorageRecord {
    const timeToExpire = Math.max(0, Math.ceil((window.resetsAt - now) / 1000));
    return {
      // Hits counted anywhere, less those this replica holds unspent.
      totalHits: isBlocked ? window.hits + 1 : window.hits - window.leased,
      timeToExpire,
      isBlocked,
      timeToBlockExpire: isBlocked ? timeToExpire : 0,
    };
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, window] of this.windows) if (window.resetsAt <= now && !window.leasing) this.windows.delete(id);
  }
}
