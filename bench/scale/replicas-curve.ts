/**
 * Replicas on one PostgreSQL (SIZES.replicas api processes, 1,000 VMs in the database):
 *
 *   - throughput: requests per second of `GET /api/v1/vms?limit=50` (admin, autocannon, CONNECTIONS
 *     connections in all) against one replica, then the same connections spread over every replica
 *     at once; the ratio is the scaling factor. On a machine with fewer cores than replicas plus the
 *     load generator and PostgreSQL, the factor says more about the machine than about LIMEN.
 *   - failover: replica 1 is started first, so it holds the leader lock; it is killed with SIGKILL
 *     and the time runs until PostgreSQL shows another session holding the lock (LeaderElection's
 *     advisory lock), from which moment that replica runs the leader jobs on their next tick.
 */
import autocannon from 'autocannon';
import { printResult } from '../lib/report';
import { apiFleet, ADMIN_PASSWORD, login, Replica } from './api-fleet';
import { freshDatabase, log, seedVms, SIZES, sleep, withClient } from './common';

const VMS = 1000;
const CONNECTIONS = 48;
/** LeaderElection's LEADER_LOCK_KEY (0x4c494d45): one int4 key, so objid holds it. */
const LEADER_LOCK_KEY = 0x4c494d45;
const FAILOVER_TIMEOUT_MS = 60_000;

async function requestsPerSecond(replicas: Replica[], token: string, seconds: number): Promise<number> {
  const each = Math.floor(CONNECTIONS / replicas.length);
  const runs = await Promise.all(
    replicas.map((replica) =>
      autocannon({
        url: `${replica.base}/api/v1/vms?limit=50`,
        connections: each,
        duration: seconds,
        headers: { authorization: `Bearer ${token}` },
      }),
    ),
  );
  for (const run of runs)
    if (run.non2xx || run.errors) throw new Error(`load run: ${run.non2xx} non-2xx answers, ${run.errors} errors`);
  return runs.reduce((sum, run) => sum + run.requests.average, 0);
}

/** The backend pid holding the leader lock in `url`'s database, or null. */
async function leaderBackend(url: string): Promise<number | null> {
  return withClient(url, async (db) => {
    const { rows } = await db.query(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [LEADER_LOCK_KEY],
    );
    return rows[0]?.pid ?? null;
  });
}

export async function replicasCurve(): Promise<void> {
  const url = await freshDatabase();
  const fleet = apiFleet(url);
  const first = await fleet.start();
  const deadline = Date.now() + FAILOVER_TIMEOUT_MS;
  while ((await leaderBackend(url)) === null) {
    if (Date.now() > deadline) throw new Error('no replica took the leader lock');
    await sleep(100);
  }
  const replicas = [first];
  while (replicas.length < SIZES.replicas) replicas.push(await fleet.start());
  const token = await login(first.base, 'admin', ADMIN_PASSWORD);
  const adminId = await withClient(
    url,
    async (db) => (await db.query(`SELECT id FROM users WHERE username = 'admin'`)).rows[0].id,
  );
  await seedVms(url, { from: 1, count: VMS, ownerIds: [adminId] });

  await requestsPerSecond(replicas, token, 2); // warm-up of every replica
  const one = await requestsPerSecond([first], token, SIZES.replicaSeconds);
  const all = await requestsPerSecond(replicas, token, SIZES.replicaSeconds);
  log(`replicas: ${one.toFixed(0)} req/s on one, ${all.toFixed(0)} req/s on ${replicas.length}`);
  printResult(`scale-replicas-list-rps-1`, one, 'req/s', null, null);
  printResult(`scale-replicas-list-rps-${replicas.length}`, all, 'req/s', one, null);

  const before = await leaderBackend(url);
  const killedAt = performance.now();
  await first.kill('SIGKILL');
  for (;;) {
    const holder = await leaderBackend(url);
    if (holder !== null && holder !== before) break;
    if (performance.now() - killedAt > FAILOVER_TIMEOUT_MS) throw new Error('no replica took over the leader lock');
    await sleep(20);
  }
  const failoverS = (performance.now() - killedAt) / 1000;
  log(`leader failover: ${failoverS.toFixed(2)} s`);
  printResult('scale-leader-failover', failoverS, 's', null, null);
  for (const replica of replicas.slice(1)) await replica.kill();
}
