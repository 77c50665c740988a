/**
 * Placement and the operation pipeline on SIZES.fakeHosts in-memory hosts (each a
 * FakeVirtualizationPort reporting HOST_CPUS CPUs and HOST_MEMORY_MIB, handed out by HostPorts in
 * place of a libvirt connection; everything else is the real api on real PostgreSQL, over HTTP).
 * USERS users each have a quota of SIZES.creates / USERS VMs and ask for 10% more: SIZES.creates
 * must be accepted and the rest refused with QUOTA_EXCEEDED. Reported: operations per second (the
 * accepted creates over the time from the first POST until the last operation ended), and, from
 * the database afterwards, how many hosts hold more than their capacity (CPUs and memory times the
 * overcommit ratios) and how many users more VMs than their quota: both must be 0.
 */
import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { HostMonitor } from '../../apps/api/src/hosts/host-monitor';
import { HostPorts } from '../../apps/api/src/hosts/host-ports';
import { AppConfig } from '../../apps/api/src/config/app-config';
import { hypervisorSandbox } from '../../test/support/hypervisor';
import { printResult } from '../lib/report';
import { ADMIN_PASSWORD, createUser, login } from './api-fleet';
import { freshDatabase, log, onCleanup, SIZES, withClient } from './common';
import { bootInProcess } from './in-process-app';

const USERS = 10;
const HOST_CPUS = 8;
const HOST_MEMORY_MIB = 8192;
const VM = { vcpus: 1, memoryMiB: 256, diskGiB: 1 };
const CONCURRENCY = 20;

const fleet = new Map<string, FakeVirtualizationPort>();

/** HostPorts whose non-local hosts are in-memory hypervisors (one per host, kept for the run). */
class FleetHostPorts extends HostPorts {
  override forHost(hostId: string) {
    if (hostId === this.localId) return this.localPort;
    let port = fleet.get(hostId);
    if (!port) {
      port = new FakeVirtualizationPort({ capabilities: { cpus: HOST_CPUS, memoryMiB: HOST_MEMORY_MIB } });
      fleet.set(hostId, port);
      const host = this.host(hostId);
      if (host) this.opened$.next({ host, port });
    }
    return port;
  }
}

async function post(base: string, token: string, path: string, body: unknown) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any, location: res.headers.get('location') };
}

export async function pipelineCurve(): Promise<void> {
  const perUser = Math.ceil(SIZES.creates / USERS);
  const sandbox = hypervisorSandbox();
  onCleanup('hypervisor sandbox', () => sandbox.cleanup());
  const url = await freshDatabase();
  const { app, base } = await bootInProcess({
    env: {
      ...sandbox.env,
      DATABASE_URL: url,
      DEFAULT_QUOTA_VMS: String(perUser),
      DEFAULT_QUOTA_VCPUS: '100000',
      DEFAULT_QUOTA_MEMORY_MIB: '10000000',
      DEFAULT_QUOTA_DISK_GIB: '100000',
    },
    classes: [{ provide: HostPorts, useClass: FleetHostPorts }],
    listen: true,
  });
  await withClient(url, async (db) => {
    await db.query(`UPDATE hosts SET enabled = false`); // the machine's own host: this curve places on the fleet
    await db.query(
      `INSERT INTO hosts (name, adapter, libvirt_uri, status) SELECT 'fake-' || g, 'libvirt', 'qemu+tcp://fake-' || g || '/system', 'unknown' FROM generate_series(1, $1::int) g`,
      [SIZES.fakeHosts],
    );
  });
  await app.get(HostPorts).reload();
  await app.get(HostMonitor).check();
  const adminToken = await login(base, 'admin', ADMIN_PASSWORD);
  const images = await fetch(`${base}/api/v1/images`, { headers: { authorization: `Bearer ${adminToken}` } }).then(
    (r) => r.json() as any,
  );
  const imageId = images.items[0].id as string;
  const users: Array<{ id: string; token: string }> = [];
  for (let i = 0; i < USERS; i++) users.push(await createUser(base, adminToken, `scale-pipeline-${i}`));

  const attempts = Array.from({ length: Math.ceil(perUser * 1.1) * USERS }, (_, i) => ({ user: users[i % USERS], i }));
  const accepted: string[] = [];
  const refused: Record<string, number> = {};
  const started = performance.now();
  const worker = async () => {
    for (let next = attempts.shift(); next; next = attempts.shift()) {
      const res = await post(base, next.user.token, '/api/v1/vms', {
        name: `vm-${next.i}`,
        imageId,
        start: false,
        ...VM,
      });
      if (res.status === 202) accepted.push(res.location!);
      else refused[res.body.code ?? res.status] = (refused[res.body.code ?? res.status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const outcomes: Record<string, number> = {};
  for (const location of accepted) {
    let op: { status: string };
    do
      op = await fetch(`${base}${location}/wait?timeout=60`, {
        headers: { authorization: `Bearer ${adminToken}` },
      }).then((r) => r.json() as any);
    while (op.status === 'pending' || op.status === 'running');
    outcomes[op.status] = (outcomes[op.status] ?? 0) + 1;
  }
  const seconds = (performance.now() - started) / 1000;
  const config = app.get(AppConfig);
  const { hostsOver, usersOver } = await withClient(url, async (db) => ({
    hostsOver: (
      await db.query(
        `SELECT h.name FROM hosts h JOIN vms v ON v.host_id = h.id AND v.state <> 'deleting' GROUP BY h.id
         HAVING sum(v.vcpus) > max(h.cpus) * $1::int / 100 OR sum(v.memory_mib) > max(h.memory_mib) * $2::int / 100`,
        [config.cpuOvercommitPercent, config.memoryOvercommitPercent],
      )
    ).rowCount!,
    usersOver: (await db.query(`SELECT owner_id FROM vms GROUP BY owner_id HAVING count(*) > $1`, [perUser])).rowCount!,
  }));
  const used = await withClient(
    url,
    async (db) => (await db.query(`SELECT count(DISTINCT host_id)::int AS n FROM vms`)).rows[0].n,
  );
  log(
    `pipeline: ${accepted.length} accepted, refused ${JSON.stringify(refused)}, operations ${JSON.stringify(outcomes)}, ${used} hosts used, ${seconds.toFixed(1)} s`,
  );
  if (accepted.length !== SIZES.creates)
    throw new Error(`${accepted.length} creates accepted, expected ${SIZES.creates}`);
  printResult('scale-pipeline-creates-per-second', (outcomes.succeeded ?? 0) / seconds, 'ops/s', null, null);
  printResult(
    'scale-pipeline-failed-operations',
    accepted.length - (outcomes.succeeded ?? 0),
    'operations',
    null,
    null,
  );
  printResult('scale-pipeline-overcommitted-hosts', hostsOver, 'hosts', null, 0);
  printResult('scale-pipeline-overcommitted-quotas', usersOver, 'users', null, 0);
}
