import { existsSync, renameSync } from 'node:fs';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { GUEST_MARKER, KERNEL_IMAGE_NAME, restartLibvirtd, virsh } from '../support/hypervisor';
import { ADMIN, createUser, login, startTestApp, TestApp } from '../support/test-app';

// A simulated host reboot restarts the shared libvirtd, which would fail whatever other e2e file
// runs beside it; so this lives in the reliability suite, which CI runs alone and in band.
jest.setTimeout(600_000);

/** The sweep's period here, and the autostart settings: 2 s, 4 s, then it gives up after the third attempt. */
const SWEEP_SECONDS = 2;
const BACKOFF_SECONDS = 2;
const MAX_ATTEMPTS = 3;
/** A start under TCG on a busy shared machine, end to end through the api. */
const START_BUDGET_MS = 30_000;

interface VmBody {
  id: string;
  state: string;
  stateReason: string | null;
  autostart: boolean;
  desiredState: string;
  autostartAttempts: { count: number; nextAt: string | null; lastError: string | null };
}

interface OperationBody {
  id: string;
  kind: string;
  vmId: string | null;
  status: string;
  error: { code: string; detail: string } | null;
  createdAt: string;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The file behind a domain's first disk, as libvirt opens it (whatever layout VM_DIR has). */
function bootDiskOf(vmId: string): string {
  const list = virsh('domblklist', `limen-${vmId}`, '--details');
  const row = list.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((cols) => cols[0] === 'file' && cols[1] === 'disk');
  if (!row) throw new Error(`no file disk in ${list.stdout} ${list.stderr}`);
  return row.slice(3).join(' ');
}

describe('autostart after a simulated host reboot (e2e, real libvirt: domains destroyed, libvirtd restarted)', () => {
  let t: TestApp;
  let admin: { accessToken: string };
  let alice: { accessToken: string };
  let imageId: string;
  let hiddenDisk: { path: string; away: string } | undefined;
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
    patch: (path: string) => request(t.http).patch(path).auth(token, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }),
  });
  const vm = async (id: string): Promise<VmBody> =>
    (await as(alice.accessToken).get(`/api/v1/vms/${id}`).expect(200)).body;
  const autostartOps = async (vmId: string): Promise<OperationBody[]> =>
    ((await as(alice.accessToken).get('/api/v1/operations?limit=500').expect(200)).body.items as OperationBody[])
      .filter((op) => op.kind === 'vm.autostart' && op.vmId === vmId)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));

  /** Long-polls (60 s at most per call) until the operation ends. */
  async function waitOp(location: string): Promise<OperationBody> {
    for (;;) {
      const op: OperationBody = (await as(alice.accessToken).get(`${location}/wait?timeout=60`).expect(200)).body;
      if (op.status === 'succeeded' || op.status === 'failed') return op;
    }
  }

  async function createVm(name: string, extra: Record<string, unknown> = {}): Promise<VmBody> {
    const res = await as(alice.accessToken)
      .post('/api/v1/vms')
      .send({ name, vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, ...extra });
    expect(res.status).toBe(202);
    expect(await waitOp(res.headers.location)).toMatchObject({ status: 'succeeded', error: null });
    return res.body.vm;
  }

  beforeAll(async () => {
    t = await startTestApp({
      RECONCILE_INTERVAL_SECONDS: String(SWEEP_SECONDS),
      AUTOSTART_BACKOFF_SECONDS: String(BACKOFF_SECONDS),
      AUTOSTART_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      DEFAULT_QUOTA_VMS: '10',
    });
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    const images = await as(alice.accessToken).get('/api/v1/images').expect(200);
    imageId = images.body.items.find(
      (i: { name: string; kind: string }) => i.name === KERNEL_IMAGE_NAME && i.kind === 'kernel',
    ).id;
  });

  afterAll(async () => {
    if (hiddenDisk && existsSync(hiddenDisk.away)) renameSync(hiddenDisk.away, hiddenDisk.path);
    if (!t) return;
    const ids: Array<{ id: string }> = await t.app.get(DataSource).query(`SELECT id FROM vms`);
    for (const { id } of ids) {
      const del = await as(admin.accessToken).delete(`/api/v1/vms/${id}`);
      if (del.status === 202) await as(admin.accessToken).get(`${del.headers.location}/wait?timeout=60`);
    }
    // Whatever a failed delete left on the shared libvirtd.
    for (const { id } of ids) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--snapshots-metadata');
    }
    await t.close();
  });

  it('brings autostart VMs back within one sweep, leaves the others stopped, and backs off a VM whose start keeps failing without churning operations', async () => {
    // Autostart follows `start` at create, and PATCH changes it at once (200, with If-Match).
    const back = await createVm('comes-back');
    expect(back).toMatchObject({ autostart: true, desiredState: 'running' });
    const off = await createVm('autostart-off');
    // A booting guest's row still changes (its addresses): re-read and retry on 412, as a client would.
    const patched = await until(
      'the PATCH to apply',
      async () => {
        const etag = (await as(alice.accessToken).get(`/api/v1/vms/${off.id}`).expect(200)).headers.etag;
        const res = await as(alice.accessToken)
          .patch(`/api/v1/vms/${off.id}`)
          .set('If-Match', etag)
          .send({ autostart: false });
        expect([200, 412]).toContain(res.status);
        return res.status === 200 && res;
      },
      30_000,
    );
    expect(patched.body).toMatchObject({ autostart: false, desiredState: 'running' });
    const failing = await createVm('keeps-failing');
    const neverStarted = await createVm('created-stopped', { start: false });
    expect(neverStarted).toMatchObject({ autostart: false, desiredState: 'stopped' });
    for (const v of [back, off, failing]) expect((await vm(v.id)).state).toBe('running');
    const markers = async () =>
      (await as(alice.accessToken).get(`/api/v1/vms/${back.id}/serial?bytes=65536`).expect(200)).text.split(
        GUEST_MARKER,
      ).length - 1;
    const firstBoot = await until(
      'the guest marker of the first boot',
      async () => (await markers()) || false,
      120_000,
    );

    // keeps-failing loses its disk: QEMU keeps the open file, but no start can open it again.
    const disk = bootDiskOf(failing.id);
    hiddenDisk = { path: disk, away: `${disk}.away` };
    renameSync(hiddenDisk.path, hiddenDisk.away);

    // The "host reboot": every domain of this test goes down, then libvirtd restarts.
    for (const v of [back, off, failing]) expect(virsh('destroy', `limen-${v.id}`).status).toBe(0);
    const outage = await restartLibvirtd();
    const answeredAt = Date.now();
    process.stdout.write(
      `[autostart] libvirtd restarted and answering after ${outage} ms; autostart-off now ${virsh('domstate', '--reason', `limen-${off.id}`).stdout.trim()}\n`,
    );

    const running = await until(
      'comes-back to run again',
      async () => {
        const now = await vm(back.id);
        return now.state === 'running' && virsh('domstate', `limen-${back.id}`).stdout.trim() === 'running' && now;
      },
      SWEEP_SECONDS * 1000 + START_BUDGET_MS,
    );
    process.stdout.write(`[autostart] comes-back running ${Date.now() - answeredAt} ms after libvirtd answered\n`);
    expect(running.desiredState).toBe('running');
    // The guest really booted again: its serial log has one more marker.
    await until('the guest marker of the second boot', async () => (await markers()) > firstBoot, 120_000);
    // One successful vm.autostart brought it back (a first one caught by the libvirtd outage may have failed).
    const backOps = await autostartOps(back.id);
    expect(backOps.filter((op) => op.status === 'succeeded')).toHaveLength(1);
    for (const op of backOps.filter((o) => o.status === 'failed'))
      expect(op.error?.code).toBe('HYPERVISOR_UNAVAILABLE');

    // keeps-failing: each attempt an operation, the wait doubling, and after MAX_ATTEMPTS it gives up.
    const gaveUp = await until(
      'keeps-failing to be given up on',
      async () => {
        const now = await vm(failing.id);
        return now.stateReason?.startsWith('autostart gave up') && now;
      },
      120_000,
    );
    expect(gaveUp).toMatchObject({ state: 'stopped', desiredState: 'running' });
    expect(gaveUp.autostartAttempts.count).toBe(MAX_ATTEMPTS);
    expect(gaveUp.autostartAttempts.lastError).toMatch(/^[A-Z_]+: /);
    const failedOps = await autostartOps(failing.id);
    expect(failedOps.map((op) => op.status)).toEqual(Array(MAX_ATTEMPTS).fill('failed'));
    const gaps = failedOps.slice(1).map((op, i) => Date.parse(op.createdAt) - Date.parse(failedOps[i].createdAt));
    process.stdout.write(`[autostart] keeps-failing attempts ${gaps.map((g) => `+${g} ms`).join(', ')} apart\n`);
    // The sweep starts no attempt before the previous one's backoff (2 s, then 4 s) has passed.
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(BACKOFF_SECONDS * 1000 * 2 ** i));

    // No churn: several more sweeps make no operation and leave the VM as it is.
    const settled = await vm(failing.id);
    await sleep(4 * SWEEP_SECONDS * 1000);
    expect(await autostartOps(failing.id)).toHaveLength(MAX_ATTEMPTS);
    expect(await vm(failing.id)).toEqual(settled);

    // Audited, one record per attempt.
    const audit = await as(admin.accessToken)
      .get(`/api/v1/audit?action=vms.autostart&targetId=${failing.id}`)
      .expect(200);
    expect(audit.body.items.map((e: { result: string }) => e.result)).toEqual(Array(MAX_ATTEMPTS).fill('failure'));

    // autostart off, and never started: both stay down, with no operation.
    for (const v of [off, neverStarted]) {
      expect(await vm(v.id)).toMatchObject({ state: 'stopped', autostartAttempts: { count: 0 } });
      expect(await autostartOps(v.id)).toEqual([]);
      expect(virsh('domstate', `limen-${v.id}`).stdout.trim()).toBe('shut off');
    }

    // comes-back has run past its backoff by now: its record started afresh.
    await until('comes-back’s record to reset', async () => (await vm(back.id)).autostartAttempts.count === 0, 30_000);

    // Its owner starts keeps-failing once its disk is back: the record and the reason go.
    renameSync(hiddenDisk.away, hiddenDisk.path);
    const start = await as(alice.accessToken)
      .post(`/api/v1/vms/${failing.id}/actions`)
      .send({ action: 'start' })
      .expect(202);
    expect(start.body.vm.autostartAttempts).toEqual({ count: 0, nextAt: null, lastError: null });
    expect(await waitOp(start.headers.location)).toMatchObject({ status: 'succeeded' });
    expect(await vm(failing.id)).toMatchObject({ state: 'running', stateReason: null });
  });
});
