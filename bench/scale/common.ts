/**
 * What every scale curve shares: the sizes (full or SCALE_SMOKE), a fresh PostgreSQL database per
 * curve, bulk seeding of VM rows with generate_series, percentiles, and cleanup that runs even
 * when a curve fails.
 */
import { Client } from 'pg';

export const SMOKE = process.env.SCALE_SMOKE === '1';

/** Each curve's points: the full run, or the small smoke run that proves the code works. */
export const SIZES = SMOKE
  ? {
      listVms: [100, 200],
      listSeconds: 2,
      libvirtDomains: [10, 20],
      fakeDomains: [100, 200],
      subscribers: [1, 10],
      fakeHosts: 5,
      creates: 50,
      replicas: 2,
      replicaSeconds: 3,
    }
  : {
      listVms: [1_000, 10_000, 100_000],
      listSeconds: 10,
      libvirtDomains: [100, 500, 1_000],
      fakeDomains: [1_000, 10_000],
      subscribers: [1, 100, 1_000],
      fakeHosts: 50,
      creates: 1_000,
      replicas: 3,
      replicaSeconds: 10,
    };

export const PG_SERVER =
  process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/postgres';

export const log = (message: string) => process.stderr.write(`[scale] ${message}\n`);

/** Cleanups run last-in first-out by `runCleanups`, whatever failed before. */
const cleanups: Array<{ what: string; run: () => unknown }> = [];

export function onCleanup(what: string, run: () => unknown): void {
  cleanups.push({ what, run });
}

export async function runCleanups(): Promise<void> {
  while (cleanups.length) {
    const { what, run } = cleanups.pop()!;
    try {
      await run();
    } catch (error) {
      log(`cleanup of ${what} failed: ${(error as Error).message}`);
    }
  }
}

/** A fresh database on PG_SERVER, dropped at cleanup; the api's migrations make its tables. */
export async function freshDatabase(): Promise<string> {
  const name = `limen_scale_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await withClient(PG_SERVER, (db) => db.query(`CREATE DATABASE ${name}`));
  onCleanup(`database ${name}`, () =>
    withClient(PG_SERVER, (db) => db.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  );
  const url = new URL(PG_SERVER);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function withClient<T>(url: string, work: (db: Client) => Promise<T>): Promise<T> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

/**
 * Adds `count` VM rows (state 'stopped', 1 vCPU, 128 MiB) in one INSERT … generate_series,
 * spread round-robin over `ownerIds`, on `hostId` (default: the first host), on the newest image.
 * `idSql` may give each row a chosen id (SQL over the series number g). Returns the rows added.
 */
export async function seedVms(
  url: string,
  options: { from: number; count: number; ownerIds: string[]; hostId?: string; idSql?: string },
): Promise<number> {
  return withClient(url, async (db) => {
    const result = await db.query(
      `INSERT INTO vms (id, owner_id, host_id, name, vcpus, memory_mib, disk_gib, image_id, state)
       SELECT ${options.idSql ?? 'gen_random_uuid()'}, ($3::uuid[])[1 + g % array_length($3::uuid[], 1)],
              coalesce($4::uuid, (SELECT id FROM hosts ORDER BY created_at LIMIT 1)),
              'scale-vm-' || g, 1, 128, 1, (SELECT id FROM images ORDER BY created_at DESC LIMIT 1), 'stopped'
       FROM generate_series($1::int, $2::int) g`,
      [options.from, options.from + options.count - 1, options.ownerIds, options.hostId ?? null],
    );
    await db.query('ANALYZE vms');
    if (result.rowCount !== options.count) throw new Error(`seeded ${result.rowCount} VMs, not ${options.count}`);
    return result.rowCount;
  });
}

export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
