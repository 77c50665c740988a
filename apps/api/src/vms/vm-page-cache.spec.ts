import type { DatabaseEndpoint } from '../database/database-endpoint';
import { OpenTransaction, VmPageCache } from './vm-page-cache';

/** A cache whose pages count their renders: `page-<n>` is the n-th render. */
function setup(isEmbedded = true) {
  const cache = new VmPageCache({ isEmbedded } as DatabaseEndpoint);
  let renders = 0;
  const render = () => Promise.resolve(`page-${++renders}`);
  return { cache, render, renders: () => renders };
}

describe('VmPageCache', () => {
  it('serves a page again without rendering it, per key', async () => {
    const { cache, render, renders } = setup();
    expect(await cache.page('a', render)).toBe('page-1');
    expect(await cache.page('a', render)).toBe('page-1');
    expect(await cache.page('b', render)).toBe('page-2');
    expect(renders()).toBe(2);
  });

  it('drops every page at a write outside a transaction', async () => {
    const { cache, render } = setup();
    await cache.page('a', render);
    cache.writing();
    cache.written();
    expect(await cache.page('a', render)).toBe('page-2');
  });

  it('does not keep a page whose render raced a write', async () => {
    const { cache } = setup();
    let finish!: (page: string) => void;
    const racing = cache.page('a', () => new Promise<string>((resolve) => (finish = resolve)));
    cache.writing();
    cache.written();
    finish('old rows');
    expect(await racing).toBe('old rows');
    expect(await cache.page('a', () => Promise.resolve('new rows'))).toBe('new rows');
  });

  it('is out of use while a transaction that wrote is open, and drops the pages once it ends', async () => {
    const { cache, render } = setup();
    await cache.page('a', render);
    const runner: OpenTransaction = { isTransactionActive: true, isReleased: false };
    cache.writing(runner);
    cache.written();
    // Read while the transaction is open: rendered each time, never kept.
    expect(await cache.page('a', render)).toBe('page-2');
    expect(await cache.page('a', render)).toBe('page-3');
    Object.assign(runner, { isTransactionActive: false, isReleased: true });
    expect(await cache.page('a', render)).toBe('page-4');
    expect(await cache.page('a', render)).toBe('page-4');
  });

  it('caches nothing with a shared database until its listener is in place', async () => {
    const { cache, render } = setup(false);
    expect(await cache.page('a', render)).toBe('page-1');
    expect(await cache.page('a', render)).toBe('page-2');
  });
});
