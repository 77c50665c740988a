/**
 * The VM list as the database grows: p50/p99 of authenticated `GET /api/v1/vms?limit=50` pages,
 * walked with cursor paging (each client follows nextCursor up to PAGES_PER_WALK pages, then starts
 * again), for a user (who owns 1/OWNERS of the rows) and for the admin (who sees them all), at
 * each size of SIZES.listVms. The rows are added with one generate_series INSERT per size into a
 * fresh database the api migrated. Target: p99 at the largest size ≤ 1.5 × p99 at the smallest.
 */
import { printResult } from '../lib/report';
import { apiFleet, ADMIN_PASSWORD, createUser, login } from './api-fleet';
import { freshDatabase, log, percentile, seedVms, SIZES, sleep, withClient } from './common';

const CONCURRENCY = 8;
const PAGES_PER_WALK = 20;
const OWNERS = 10;
const TARGET_P99_GROWTH = 1.5;

/** Latencies (ms) of every page request made by CONCURRENCY walkers within `seconds`. */
export async function walkPages(base: string, token: string, seconds: number): Promise<number[]> {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  const walker = async () => {
    while (performance.now() < until) {
      let cursor: string | null = null;
      for (let page = 0; page < PAGES_PER_WALK && performance.now() < until; page++) {
        const started = performance.now();
        const res = await fetch(`${base}/api/v1/vms?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const body = (await res.json()) as { items: unknown[]; nextCursor: string | null };
        latencies.push(performance.now() - started);
        if (res.status !== 200) throw new Error(`GET /api/v1/vms answered ${res.status}`);
        cursor = body.nextCursor;
        if (!cursor) break;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, walker));
  return latencies;
}

export async function listCurve(): Promise<void> {
  const url = await freshDatabase();
  const api = await apiFleet(url).start();
  const adminToken = await login(api.base, 'admin', ADMIN_PASSWORD);
  const users: Array<{ id: string; token: string }> = [];
  for (let i = 0; i < OWNERS; i++) users.push(await createUser(api.base, adminToken, `scale-user-${i}`));
  const ownerIds = users.map((u) => u.id);
  const roles = [
    { role: 'user', token: users[0].token },
    { role: 'admin', token: adminToken },
  ];
  const p99s: Record<string, number[]> = { user: [], admin: [] };
  let seeded = 0;
  for (const size of SIZES.listVms) {
    const started = Date.now();
    seeded += await seedVms(url, { from: seeded + 1, count: size - seeded, ownerIds });
    log(`vm list: ${seeded} rows seeded (${Date.now() - started} ms)`);
    const total = await withClient(url, async (db) => (await db.query('SELECT count(*)::int AS n FROM vms')).rows[0].n);
    if (total !== size) throw new Error(`expected ${size} VM rows, found ${total}`);
    for (const { role, token } of roles) {
      await walkPages(api.base, token, 1); // warm-up: plans cached, connections open
      await sleep(200);
      const latencies = await walkPages(api.base, token, SIZES.listSeconds);
      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      p99s[role].push(p99);
      const last = size === SIZES.listVms.at(-1);
      const first = p99s[role][0];
      log(`vm list ${role} at ${size}: ${latencies.length} pages, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
      printResult(`scale-list-${role}-p50-${size}`, p50, 'ms', null, null);
      // The p99 line carries its growth over the smallest size as the ratio; the largest size has the target.
      printResult(`scale-list-${role}-p99-${size}`, p99, 'ms', first, last ? TARGET_P99_GROWTH : null);
    }
  }
  await api.kill();
}
