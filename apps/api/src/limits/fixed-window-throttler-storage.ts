import { OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

interface Window {
  hits: number;
  /** When this window ends and counting starts again from zero (ms since epoch). */
  resetsAt: number;
  /** Set once the limit is exceeded: refused until then (ms since epoch). */
  blockedUntil: number;
}

const SWEEP_MS = 60_000;

/**
 * Fixed-window counters for the rate limits (see rateLimitOptions): O(1) per request and a few
 * numbers per key, whatever the limit. @nestjs/throttler's default storage keeps a timestamp per
 * hit and filters the whole list on every request, so its cost grows with the limit: at a high
 * per-user limit that filtering (and its garbage) was a large share of an authenticated read in
 * the read-throughput bench.
 *
 * Same contract as the default storage: past `limit` hits in a window the key is refused for
 * `blockDuration` (hits are not counted while refused), then starts a fresh window.
 */
export class FixedWindowThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly windows = new Map<string, Window>();
  private readonly sweeper = setInterval(() => this.sweep(), SWEEP_MS).unref();

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    const now = Date.now();
    const id = `${throttlerName}|${key}`;
    let window = this.windows.get(id);
    if (window && window.blockedUntil > now) return this.record(window, now, true);
    if (!window || window.resetsAt <= now || window.blockedUntil > 0) {
      window = { hits: 0, resetsAt: now + ttl, blockedUntil: 0 };
      this.windows.set(id, window);
    }
    window.hits++;
    if (window.hits > limit) {
      window.blockedUntil = now + blockDuration;
      return this.record(window, now, true);
    }
    return this.record(window, now, false);
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
    this.windows.clear();
  }

  private record(window: Window, now: number, isBlocked: boolean): ThrottlerStorageRecord {
    return {
      totalHits: window.hits,
      timeToExpire: Math.ceil((window.resetsAt - now) / 1000),
      isBlocked,
      timeToBlockExpire: isBlocked ? Math.ceil((window.blockedUntil - now) / 1000) : 0,
    };
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, window] of this.windows)
      if (window.resetsAt <= now && window.blockedUntil <= now) this.windows.delete(id);
  }
}
