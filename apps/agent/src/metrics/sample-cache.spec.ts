import { SampleCache, SampleTimeoutError } from './sample-cache';

/** A sampler whose samples finish when the test says so, counting how often it was asked. */
class FakeSampler {
  calls = 0;
  private pending: Array<{ resolve: (v: number) => void; reject: (e: Error) => void }> = [];

  take = (): Promise<number> => {
    this.calls++;
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  };

  finish(value: number): void {
    this.pending.shift()!.resolve(value);
  }

  fail(error: Error): void {
    this.pending.shift()!.reject(error);
  }
}

describe('SampleCache', () => {
  let clock: number;
  let sampler: FakeSampler;
  let cache: SampleCache<number>;
  beforeEach(() => {
    clock = 0;
    sampler = new FakeSampler();
    cache = new SampleCache(sampler.take, { ttlMs: 2000, timeoutMs: 60_000, now: () => clock });
  });

  it('serves 20 concurrent scrapes from one underlying sample', async () => {
    const scrapes = Array.from({ length: 20 }, () => cache.get());
    expect(sampler.calls).toBe(1);
    sampler.finish(42);
    expect(await Promise.all(scrapes)).toEqual(Array(20).fill(42));
    expect(sampler.calls).toBe(1);
  });

  it('answers from the cached sample within the TTL and samples again after it', async () => {
    const first = cache.get();
    sampler.finish(1);
    await first;
    clock += 1999;
    expect(await cache.get()).toBe(1);
    expect(sampler.calls).toBe(1);

    clock += 1;
    const second = cache.get();
    expect(sampler.calls).toBe(2);
    sampler.finish(2);
    expect(await second).toBe(2);
  });

  it('measures the TTL from when a sample finished, not when it started', async () => {
    const first = cache.get();
    clock += 1500; // a slow sample
    sampler.finish(1);
    await first;
    clock += 1999;
    expect(await cache.get()).toBe(1);
    expect(sampler.calls).toBe(1);
  });

  it('does not cache a failure: every waiter sees it, and the next scrape samples again', async () => {
    const a = cache.get();
    const b = cache.get();
    sampler.fail(new Error('df hung up'));
    await expect(a).rejects.toThrow('df hung up');
    await expect(b).rejects.toThrow('df hung up');
    const retry = cache.get();
    expect(sampler.calls).toBe(2);
    sampler.finish(3);
    expect(await retry).toBe(3);
  });

  it('turns a sampler that throws synchronously into a rejection', async () => {
    const throwing = new SampleCache<number>(
      () => {
        throw new Error('boom');
      },
      { ttlMs: 1000, timeoutMs: 1000 },
    );
    await expect(throwing.get()).rejects.toThrow('boom');
  });

  it('gives up on a sample that hangs, so scrapes do not hang with it', async () => {
    const hanging = new SampleCache<number>(() => new Promise(() => undefined), { ttlMs: 1000, timeoutMs: 20 });
    await expect(hanging.get()).rejects.toBeInstanceOf(SampleTimeoutError);
  });
});
