/** A sample that did not finish within the timeout; the scrape answers 503. */
export class SampleTimeoutError extends Error {}

export interface SampleCacheOptions {
  ttlMs: number;
  timeoutMs: number;
  /** Monotonic milliseconds; injectable so tests control time. */
  now?: () => number;
}

/**
 * Sampling the host costs real work (shells for df and /sys counters, a walk of /proc), so
 * a sample answers every scrape for `ttlMs`, and scrapes arriving while one is being taken
 * wait for that same promise instead of starting their own: N concurrent scrapes, one sample.
 * A failed sample is not cached; the next scrape tries again.
 */
export class SampleCache<T> {
  private latest?: { value: T; at: number };
  private inFlight?: Promise<T>;
  private readonly now: () => number;

  constructor(
    private readonly take: () => Promise<T>,
    private readonly options: SampleCacheOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
  }

  get(): Promise<T> {
    if (this.latest && this.now() - this.latest.at < this.options.ttlMs) return Promise.resolve(this.latest.value);
    this.inFlight ??= this.takeWithTimeout().then(
      (value) => {
        this.latest = { value, at: this.now() };
        this.inFlight = undefined;
        return value;
      },
      (error: unknown) => {
        this.inFlight = undefined;
        throw error;
      },
    );
    return this.inFlight;
  }

  private takeWithTimeout(): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new SampleTimeoutError(`sampling took longer than ${this.options.timeoutMs} ms`)),
        this.options.timeoutMs,
      );
      timer.unref();
    });
    // Inside an executor, so a sampler that throws synchronously still yields a rejection.
    const sample = new Promise<T>((resolve) => resolve(this.take()));
    return Promise.race([sample, timeout]).finally(() => clearTimeout(timer));
  }
}
