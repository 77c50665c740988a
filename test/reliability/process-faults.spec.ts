import { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { LeaderElection } from '../../apps/api/src/database/leader-election';
import {
  ApiProcess,
  createDatabase,
  exited,
  MAIN,
  onServer,
  SERVER,
  startApiProcess,
  until,
} from '../support/api-process';
import { hypervisorSandbox, KERNEL_IMAGE_NAME, openEventStream, poolEntriesByVm, virsh } from '../support/hypervisor';
import { childPids } from '../support/processes';
import { TcpProxy } from '../support/tcp-proxy';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from '../support/test-app';

jest.setTimeout(300_000);

/** LeaderElection's advisory lock key (0x4c494d45), as pg_locks shows it. */
const LEADER_LOCK_KEY = 0x4c494d45;

/** The database's status in a /health/ready answer: `details` when 200, the problem's `checks` when 503. */
function databaseCheck(body: {
  details?: { database?: { status: string } };
  checks?: { database?: { status: string } };
}): string | undefined {
  return (body.details ?? body.checks)?.database?.status;
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work();
  return { value, ms: Date.now() - started };
}

describe('database lost: real PostgreSQL cut off behind a proxy, the api keeps running', () => {
  let proxy: TcpProxy;
  let database: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;
  let base: string;
  let alice: { id: string; accessToken: string };
  let imageId: string;
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }).timeout(30_000),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }).timeout(30_000),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }).timeout(30_000),
  });

  /** Backends of this api's database, seen by the server itself (not through the proxy). */
  const leaderLockHolders = async () =>
    Number(
      (
        await onServer<{ n: string }>(
          `SELECT count(*) AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND l.granted AND l.objid = $1 AND d.datname = $2`,
          [LEADER_LOCK_KEY, database.name],
        )
      )[0].n,
    );
  /** The LISTEN connections of this api (events, and any other cache that listens), by channel. */
  const listeners = async () =>
    (
      await onServer<{ query: string }>(
        `SELECT query FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN %' ORDER BY query`,
        [database.name],
      )
    )
      .map((r) => r.query)
      .join(', ');

  let sandbox: ReturnType<typeof hypervisorSandbox>;
  let dataDir: string;

  beforeAll(async () => {
    const target = new URL(SERVER);
    proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
    database = await createDatabase();
    sandbox = hypervisorSandbox();
    dataDir = mkdtempSync(join(tmpdir(), 'limen-faults-'));
    // The api in process, on a fresh database of the real server, reached only through the proxy.
    t = await startTestApp({}, { dataDir, databaseUrl: proxy.via(database.url), sandbox, dropDatabase: database.drop });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    const admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    const images = await as(alice.accessToken).get('/api/v1/images').expect(200);
    imageId = images.body.items.find(
      (i: { name: string; kind: string }) => i.name === KERNEL_IMAGE_NAME && i.kind === 'kernel',
    ).id;
  });

  afterAll(async () => {
    proxy?.restore();
    if (t) {
      const ids = await onServer<{ id: string }>(`SELECT id FROM vms`, [], database.url).catch(() => []);
      for (const { id } of ids) {
        virsh('destroy', `limen-${id}`);
        virsh('undefine', `limen-${id}`, '--snapshots-metadata');
      }
      // A shutdown stuck on a busy libvirtd must not keep the database and folders behind.
      await Promise.race([t.close({ keepData: true }), new Promise((r) => setTimeout(r, 30_000).unref())]);
    }
    await database?.drop();
    sandbox?.cleanup();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    await proxy?.close();
  });

  it('answers 503 problems within seconds while cut off, writes nothing, and recovers without a restart (pool, leader lock, LISTEN, SSE)', async () => {
    // The hypervisor check is part of readiness, and libvirtd is shared and busy: allow it time.
    await until(
      'ready 200 before the fault',
      async () => (await request(t.http).get('/health/ready')).status === 200,
      120_000,
      500,
    );
    await until('the leader lock', async () => (await leaderLockHolders()) === 1, 15_000);
    const listening = await until(
      'the LISTEN connection of the events service',
      async () => (await listeners()).includes('LISTEN limen_events') && listeners(),
      15_000,
    );
    expect(t.app.get(LeaderElection).isLeader).toBe(true);
    const throughOutage = await openEventStream(base, alice.accessToken);

    // Three outages: a network partition (open connections go silent), the server's host answering
    // with resets, then a dead route where new connections hang. Requests fail within the connect
    // timeout (5 s), or on a silent connection within the query timeout (10 s): never hang.
    for (const mode of ['silence', 'reset', 'stall'] as const) {
      const bound = mode === 'silence' ? 12_000 : 8_000;
      proxy.cut(mode);
      const cutAt = Date.now();
      // Timed from the cut, while the requests below run.
      const steppedDown = until(
        'this replica to step down',
        async () => !t.app.get(LeaderElection).isLeader && { ms: Date.now() - cutAt },
        25_000,
        50,
      );
      const silentDropped = until(
        'the api to drop every silent connection',
        async () => proxy.silencedConnections === 0 && { ms: Date.now() - cutAt },
        30_000,
        50,
      );
      // Neither may reject unobserved before it is awaited.
      steppedDown.catch(() => undefined);
      silentDropped.catch(() => undefined);

      const ready = await timed(() => request(t.http).get('/health/ready').timeout(30_000));
      expect(ready.value.status).toBe(503);
      expect(databaseCheck(ready.value.body)).toBe('down');
      expect(ready.ms).toBeLessThan(5_000);

      const list = await timed(() => as(alice.accessToken).get('/api/v1/vms'));
      expectProblem(list.value, 503, 'DATABASE_UNAVAILABLE');
      expect(list.ms).toBeLessThan(bound);

      // More requests at once than the pool has connections: those queued for a connection get a 503 too, in bounded time.
      const burst = await timed(() =>
        Promise.all(Array.from({ length: 15 }, () => as(alice.accessToken).get('/api/v1/quota'))),
      );
      for (const res of burst.value) expectProblem(res, 503, 'DATABASE_UNAVAILABLE');
      expect(burst.ms).toBeLessThan(bound + 5_000);

      const create = await timed(() =>
        as(alice.accessToken)
          .post('/api/v1/vms')
          .set('Idempotency-Key', 'made-during-the-outage')
          .send({ name: 'during-outage', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId, start: false }),
      );
      expectProblem(create.value, 503, 'DATABASE_UNAVAILABLE');
      expect(create.ms).toBeLessThan(bound);

      // The server saw the leader's connection go, so the lock is free for another replica: this one
      // must step down, even when nothing told it the connection was gone (silence).
      await until(
        'the leader lock to be released at the server',
        async () => (await leaderLockHolders()) === 0,
        10_000,
      );
      const stepDownMs = (await steppedDown).ms;
      // Every connection that went silent (pool, leader, LISTENs) was given up by the api itself.
      const droppedMs = (await silentDropped).ms;
      console.log(
        `[db cut: ${mode}] ready 503 in ${ready.ms} ms, GET /vms 503 in ${list.ms} ms, POST /vms 503 in ${create.ms} ms, 15 concurrent GET /quota all 503 in ${burst.ms} ms; ` +
          `stepped down ${stepDownMs} ms after the cut` +
          (mode === 'silence' ? `, every silent connection dropped ${droppedMs} ms after it` : ''),
      );

      // Stay down longer than the reconnect loops' retry periods, then come back.
      await new Promise((r) => setTimeout(r, Math.max(0, 7_000 - (Date.now() - cutAt))));
      proxy.restore();
      const restoredAt = Date.now();
      await until(
        'the database check up again',
        async () => databaseCheck((await request(t.http).get('/health/ready')).body) === 'up',
        30_000,
        20,
      );
      const databaseAfter = Date.now() - restoredAt;
      if (mode === 'stall') {
        // Straight away, before the LISTEN connection is necessarily back: the events of this work must still reach SSE clients.
        await createAndDeleteRightAfterTheOutage();
      }
      await until(
        'ready 200 again',
        async () => (await request(t.http).get('/health/ready')).status === 200,
        120_000,
        500,
      );
      await as(alice.accessToken).get('/api/v1/vms').expect(200);
      await until('every LISTEN connection back', async () => (await listeners()) === listening, 30_000);
      const listenAfter = Date.now() - restoredAt;
      await until(
        'the leader lock back',
        async () => (await leaderLockHolders()) === 1 && t.app.get(LeaderElection).isLeader,
        30_000,
      );
      const leaderAfter = Date.now() - restoredAt;
      console.log(
        `[db cut: ${mode}] after restore: database check up in ${databaseAfter} ms, LISTEN in ${listenAfter} ms, leader lock in ${leaderAfter} ms`,
      );
    }

    async function createAndDeleteRightAfterTheOutage(): Promise<void> {
      // Nothing of the refused creates was written: no VM, no operation, no idempotency record, no quota.
      const [counts] = await onServer<{ vms: string; operations: string; keys: string }>(
        `SELECT (SELECT count(*) FROM vms) AS vms, (SELECT count(*) FROM operations) AS operations, (SELECT count(*) FROM idempotency_keys) AS keys`,
        [],
        database.url,
      );
      expect(counts).toEqual({ vms: '0', operations: '0', keys: '0' });
      const usage = (await as(alice.accessToken).get('/api/v1/quota').expect(200)).body.usage;
      expect(usage).toEqual(expect.objectContaining({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 }));

      // The same Idempotency-Key now runs the create for real (no half-written key replays a 503).
      const afterOutage = await openEventStream(base, alice.accessToken);
      const created = await as(alice.accessToken)
        .post('/api/v1/vms')
        .set('Idempotency-Key', 'made-during-the-outage')
        .send({ name: 'during-outage', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId, start: false });
      expect(created.status).toBe(202);
      const vmId = created.body.vm.id as string;
      const op = await as(alice.accessToken).get(`${created.headers.location}/wait?timeout=60`).expect(200);
      expect(op.body.status).toBe('succeeded');
      // Both streams get the VM's events: the one that lived through both outages and a new one.
      for (const stream of [throughOutage, afterOutage]) {
        await stream.waitFor((e) => e.type === 'vm.created' && e.data.id === vmId, 10_000);
        await stream.waitFor(
          (e) => e.type === 'operation.updated' && e.data.id === op.body.id && e.data.status === 'succeeded',
          10_000,
        );
      }
      const removed = await as(alice.accessToken).delete(`/api/v1/vms/${vmId}`).expect(202);
      expect(
        (await as(alice.accessToken).get(`${removed.headers.location}/wait?timeout=60`).expect(200)).body.status,
      ).toBe('succeeded');
      for (const stream of [throughOutage, afterOutage])
        await stream.waitFor((e) => e.type === 'vm.deleted' && e.data.vmId === vmId, 10_000);
      expect((await as(alice.accessToken).get('/api/v1/vms').expect(200)).body.items).toEqual([]);
      afterOutage.close();
    }
    throughOutage.close();
  });
});

/** libvirt's words for a domain's state, as LIMEN names them (see vmStateFromDomain). */
const VM_STATE_OF_DOMSTATE: Record<string, string> = {
  running: 'running',
  blocked: 'running',
  'in shutdown': 'running',
  paused: 'paused',
  pmsuspended: 'paused',
  'shut off': 'stopped',
  crashed: 'crashed',
};

describe('api process killed mid-operation: the built api on real PostgreSQL and libvirt, SIGKILLed and restarted', () => {
  let database: Awaited<ReturnType<typeof createDatabase>>;
  let sandbox: ReturnType<typeof hypervisorSandbox>;
  let dataDir: string;
  let api: ApiProcess | null = null;
  const started: ChildProcess[] = [];

  /** Nothing inherited but PATH/HOME: the same configuration every start, so a restart is a restart. */
  async function startApi(): Promise<ApiProcess> {
    const api = await startApiProcess({
      ...sandbox.env,
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      LOG_LEVEL: 'warn',
      RECONCILE_INTERVAL_SECONDS: '2',
      RATE_LIMIT_PER_MINUTE: '100000',
      AUTH_RATE_LIMIT_PER_MINUTE: '100000',
      DEFAULT_QUOTA_VMS: '10',
      OPERATION_CONCURRENCY_PER_HOST: '4',
    });
    started.push(api.child);
    return api;
  }

  async function call(
    token: string,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) {
    const res = await fetch(`${api!.base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(90_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, location: res.headers.get('location') };
  }

  /** `limen-*` domains whose disks live under this test's VM_DIR, by VM id. */
  function ourDomains(): Map<string, string> {
    const names = virsh('list', '--all', '--name')
      .stdout.split('\n')
      .map((n) => n.trim())
      .filter((n) => n.startsWith('limen-'));
    const ours = new Map<string, string>();
    for (const name of names) {
      const disks = virsh('domblklist', name, '--details').stdout;
      if (!disks.includes(`${sandbox.vmDir}/`)) continue;
      ours.set(name.slice('limen-'.length), virsh('domstate', name).stdout.trim());
    }
    return ours;
  }

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
    database = await createDatabase();
    sandbox = hypervisorSandbox();
    dataDir = mkdtempSync(join(tmpdir(), 'limen-faults-'));
  });

  afterAll(async () => {
    for (const child of started) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited(child);
      }
    }
    if (sandbox)
      for (const id of ourDomains().keys()) {
        virsh('destroy', `limen-${id}`);
        virsh('undefine', `limen-${id}`, '--snapshots-metadata', '--nvram');
      }
    const ids = database ? await onServer<{ id: string }>(`SELECT id FROM vms`, [], database.url).catch(() => []) : [];
    for (const { id } of ids) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--snapshots-metadata');
    }
    await database?.drop();
    sandbox?.cleanup();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('settles every operation after a restart, and leaves database, hypervisor, VM_DIR and quota in agreement', async () => {
    api = await startApi();
    const admin = (await call('', 'POST', '/api/v1/auth/login', ADMIN)).body as { accessToken: string };
    const alicePassword = 'alice-password-123';
    expect(
      (
        await call(admin.accessToken, 'POST', '/api/v1/users', {
          username: 'alice',
          password: alicePassword,
          role: 'user',
        })
      ).status,
    ).toBe(201);
    const alice = (await call('', 'POST', '/api/v1/auth/login', { username: 'alice', password: alicePassword }))
      .body as { accessToken: string };
    const images = (await call(alice.accessToken, 'GET', '/api/v1/images')).body as {
      items: Array<{ id: string; name: string; kind: string }>;
    };
    const imageId = images.items.find((i) => i.name === KERNEL_IMAGE_NAME && i.kind === 'kernel')!.id;

    const createAndWait = async (name: string, start: boolean) => {
      const res = await call(alice.accessToken, 'POST', '/api/v1/vms', {
        name,
        vcpus: 1,
        memoryMiB: 64,
        diskGiB: 1,
        imageId,
        start,
      });
      expect(res.status).toBe(202);
      const op = await call(alice.accessToken, 'GET', `${res.location}/wait?timeout=60`);
      expect({ status: op.body.status, error: op.body.error }).toEqual({ status: 'succeeded', error: null });
      return res.body.vm.id as string;
    };
    const toDelete = await createAndWait('to-delete', true);
    const toStart = await createAndWait('to-start', false);

    // Operations in flight at once: three creates (running VMs), a delete and a start. One more than
    // OPERATION_CONCURRENCY_PER_HOST (4): the last one accepted waits, pending, for a slot.
    const db = new Client({ connectionString: database.url });
    await db.connect();
    try {
      const accepted = await Promise.all([
        call(alice.accessToken, 'POST', '/api/v1/vms', {
          name: 'mid-create-1',
          vcpus: 1,
          memoryMiB: 64,
          diskGiB: 1,
          imageId,
          start: true,
        }),
        call(alice.accessToken, 'POST', '/api/v1/vms', {
          name: 'mid-create-2',
          vcpus: 1,
          memoryMiB: 64,
          diskGiB: 1,
          imageId,
          start: true,
        }),
        call(alice.accessToken, 'POST', '/api/v1/vms', {
          name: 'mid-create-3',
          vcpus: 1,
          memoryMiB: 64,
          diskGiB: 1,
          imageId,
          start: true,
        }),
        call(alice.accessToken, 'DELETE', `/api/v1/vms/${toDelete}`),
        call(alice.accessToken, 'POST', `/api/v1/vms/${toStart}/actions`, { action: 'start' }),
      ]);
      for (const res of accepted) expect(res.status).toBe(202);
      const opIds = accepted.map((res) => res.body.operation.id as string);
      const kinds = ['vm.create', 'vm.create', 'vm.create', 'vm.delete', 'vm.start'];
      // Read before the wait, so nothing stands between seeing the create running and the kill.
      const eventStreams = childPids(api.child.pid!, 'event');
      // SIGKILL as soon as a create is claimed and running (its handler mid-way through disk,
      // define, start). Any of the three: the first may be done before the last 202 arrives.
      const creates = opIds.slice(0, 3);
      await until(
        'a create to be running',
        async () =>
          (await db.query(`SELECT 1 FROM operations WHERE id = ANY($1) AND status = 'running'`, [creates])).rows
            .length > 0,
        30_000,
        5,
      );
      api.child.kill('SIGKILL');
      expect(eventStreams).toHaveLength(1);
      await exited(api.child);
      const killedAt = Date.now();
      // Its `virsh event` process goes with it (setpriv --pdeathsig), instead of living on under init.
      await until(
        "the killed api's virsh event process to exit",
        async () => !existsSync(`/proc/${eventStreams[0]}`),
        5_000,
        20,
      );
      const atKill = (
        await db.query<{ id: string; status: string; claimed_by: string | null }>(
          `SELECT id, status, claimed_by FROM operations WHERE id = ANY($1)`,
          [opIds],
        )
      ).rows;
      const statusAtKill = opIds.map((id, i) => `${kinds[i]}=${atKill.find((r) => r.id === id)!.status}`);
      const domainsAtKill = ourDomains();
      console.log(
        `[api killed] operations at the kill: ${statusAtKill.join(', ')}; our domains: ${[...domainsAtKill.values()].join(', ')}`,
      );
      expect(atKill.filter((r) => creates.includes(r.id) && r.status === 'running').length).toBeGreaterThan(0);

      api = await startApi();
      const readyIn = Date.now() - killedAt;
      const settled = await until(
        'every operation to end',
        async () => {
          const rows = (
            await db.query<{ id: string; status: string }>(`SELECT id, status FROM operations WHERE id = ANY($1)`, [
              opIds,
            ])
          ).rows;
          return rows.every((r) => r.status === 'succeeded' || r.status === 'failed') && rows;
        },
        90_000,
        100,
      );
      const settledIn = Date.now() - killedAt;
      console.log(
        `[api killed] restarted and ready ${readyIn} ms after the kill; all operations terminal ${settledIn} ms after it: ${opIds.map((id, i) => `${kinds[i]}=${settled.find((r) => r.id === id)!.status}`).join(', ')}`,
      );

      // Through the API too: each operation is terminal, with no error (recovery re-runs them to completion).
      for (const [i, id] of opIds.entries()) {
        const op = await call(alice.accessToken, 'GET', `/api/v1/operations/${id}`);
        expect({ kind: kinds[i], status: op.body.status, error: op.body.error }).toEqual({
          kind: kinds[i],
          status: 'succeeded',
          error: null,
        });
      }

      // Database and hypervisor agree (the sweep may take a period to correct a state): same VMs, same states.
      const agreed = await until(
        'API states to match virsh domstate',
        async () => {
          const vms = (
            (await call(alice.accessToken, 'GET', '/api/v1/vms?limit=500')).body as {
              items: Array<{
                id: string;
                name: string;
                state: string;
                vcpus: number;
                memoryMiB: number;
                diskGiB: number;
              }>;
            }
          ).items;
          const domains = ourDomains();
          const states = vms.map((vm) => ({
            name: vm.name,
            api: vm.state,
            hypervisor: VM_STATE_OF_DOMSTATE[domains.get(vm.id) ?? ''] ?? domains.get(vm.id) ?? 'no domain',
          }));
          const same =
            states.every((s) => s.api === s.hypervisor) &&
            domains.size === vms.length &&
            vms.every((vm) => domains.has(vm.id));
          return same && { vms, states };
        },
        60_000,
        500,
      );
      expect(agreed.vms.map((vm) => vm.name).sort()).toEqual([
        'mid-create-1',
        'mid-create-2',
        'mid-create-3',
        'to-start',
      ]);
      expect(agreed.states.every((s) => s.api === 'running')).toBe(true);

      // No orphans: every limen-* domain with a disk in this VM_DIR has a VM row and vice versa (above),
      // and every entry of VM_DIR is the folder of a surviving VM.
      expect(poolEntriesByVm(sandbox.vmDir)).toEqual(agreed.vms.map((vm) => vm.id).sort());
      const rows = (await db.query<{ id: string }>(`SELECT id FROM vms`)).rows.map((r) => r.id).sort();
      expect(rows).toEqual(agreed.vms.map((vm) => vm.id).sort());

      // The quota counts exactly the surviving VMs.
      const usage = (await call(alice.accessToken, 'GET', '/api/v1/quota')).body.usage;
      const sum = (f: (vm: (typeof agreed.vms)[number]) => number) => agreed.vms.reduce((n, vm) => n + f(vm), 0);
      expect(usage).toEqual(
        expect.objectContaining({
          vms: agreed.vms.length,
          vcpus: sum((vm) => vm.vcpus),
          memoryMiB: sum((vm) => vm.memoryMiB),
          diskGiB: sum((vm) => vm.diskGiB),
        }),
      );
    } finally {
      await db.end();
    }
  });
});
