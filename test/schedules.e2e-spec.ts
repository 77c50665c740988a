import request from 'supertest';
import { DataSource } from 'typeorm';
import { ScheduleRunnerJob } from '../apps/api/src/schedules/schedule-runner.job';
import { KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, REAL_POSTGRES, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(600_000);

interface ScheduleBody {
  id: string;
  vmId: string;
  cron: string;
  nextRunAt: string;
  lastRunAt: string | null;
  lastOperationId: string | null;
  lastError: string | null;
  version: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Schedules over the real app: real PostgreSQL (two replicas share it), libvirt and the tiny
 * guest. App A ticks every second and leads; B, a second replica on the same database, refuses
 * schedules firing more often than every 5 minutes (its SCHEDULE_MIN_INTERVAL_SECONDS).
 */
describe('Schedules (e2e, real PostgreSQL and libvirt, two replicas)', () => {
  let a: TestApp;
  let b: TestApp;
  let db: DataSource;
  let admin: { accessToken: string };
  let alice: { id: string; accessToken: string };
  let bob: { id: string; accessToken: string };
  let imageId: string;
  const as = (token: string, t: TestApp = a) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
    patch: (path: string) => request(t.http).patch(path).auth(token, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }),
  });

  async function waitOp(token: string, id: string) {
    return (await as(token).get(`/api/v1/operations/${id}/wait?timeout=60`).expect(200)).body as {
      kind: string;
      status: string;
      error: { code: string; detail: string } | null;
    };
  }

  async function createVm(name: string): Promise<string> {
    const res = await as(alice.accessToken)
      .post('/api/v1/vms')
      .send({ name, vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: false })
      .expect(202);
    expect(await waitOp(alice.accessToken, res.body.operation.id)).toMatchObject({ status: 'succeeded' });
    return res.body.vm.id;
  }

  const schedulesOf = (vmId: string) => `/api/v1/vms/${vmId}/schedules`;
  const getSchedule = async (vmId: string, id: string): Promise<ScheduleBody> =>
    (
      await as(alice.accessToken)
        .get(`${schedulesOf(vmId)}/${id}`)
        .expect(200)
    ).body;

  /** The VM's snapshots by state, names sorted. */
  async function snapshotsOf(vmId: string): Promise<Record<string, string[]>> {
    const items: { name: string; state: string }[] = (
      await as(alice.accessToken).get(`/api/v1/vms/${vmId}/snapshots`).expect(200)
    ).body.items;
    const byState: Record<string, string[]> = {};
    for (const { name, state } of items) (byState[state] ??= []).push(name);
    for (const names of Object.values(byState)) names.sort();
    return byState;
  }

  const countOps = async (vmId: string, kind: string): Promise<number> =>
    Number((await db.query(`SELECT count(*) AS n FROM operations WHERE vm_id = $1 AND kind = $2`, [vmId, kind]))[0].n);

  /** Waits for the second half of a minute to pass: a slot claimed now has its next one at least 15 s away. */
  async function awayFromTheMinute(): Promise<void> {
    while (new Date().getUTCSeconds() >= 45) await sleep(500);
  }

  /**
   * Waits for a replica to claim the schedule's due slot (the claim bumps `version`), holds the
   * schedule's natural next slot off at once (so only the slots the test makes run), then waits for
   * the run's record (a second bump). The answer carries the next slot the claim chose.
   */
  async function claimedAndRan(vmId: string, id: string, version: number): Promise<ScheduleBody> {
    const bumped = async (by: number) => {
      let s = await getSchedule(vmId, id);
      for (const deadline = Date.now() + 30_000; s.version < version + by && Date.now() < deadline;) {
        await sleep(100);
        s = await getSchedule(vmId, id);
      }
      return s;
    };
    const claimed = await bumped(1);
    await holdOff(id, claimed.nextRunAt);
    const ran = await bumped(2);
    expect(ran.version).toBe(version + 2);
    return { ...ran, nextRunAt: claimed.nextRunAt };
  }

  /** Makes `slot` the schedule's due slot (as if its time had come) and waits for its run. */
  async function runSlot(vmId: string, id: string, slot: Date): Promise<ScheduleBody> {
    await awayFromTheMinute();
    const before = await getSchedule(vmId, id);
    await db.query(`UPDATE schedules SET next_run_at = $2 WHERE id = $1`, [id, slot]);
    return claimedAndRan(vmId, id, before.version);
  }

  /** Moves a claimed schedule's next slot a day on (unless something else moved it meanwhile). */
  async function holdOff(id: string, nextRunAt: string): Promise<void> {
    const [, moved] = await db.query(
      `UPDATE schedules SET next_run_at = now() + interval '1 day' WHERE id = $1 AND next_run_at = $2`,
      [id, new Date(nextRunAt)],
    );
    expect(moved).toBe(1);
  }

  beforeAll(async () => {
    const env = {
      SCHEDULE_TICK_SECONDS: '1',
      DEFAULT_QUOTA_SNAPSHOTS: '50',
      DEFAULT_QUOTA_DISK_GIB: '60',
      // A stopped VM holds its vCPU on the host too: the suite's ten VMs on a two-CPU machine.
      CPU_OVERCOMMIT_PERCENT: '1000',
    };
    a = await startTestApp(env, undefined, REAL_POSTGRES);
    b = await startTestApp({ ...env, SCHEDULE_MIN_INTERVAL_SECONDS: '300' }, a.data);
    db = a.app.get(DataSource);
    admin = await login(a.http, ADMIN.username, ADMIN.password);
    alice = await createUser(a.http, admin.accessToken, 'alice');
    bob = await createUser(a.http, admin.accessToken, 'bob');
    const images = await as(alice.accessToken).get('/api/v1/images').expect(200);
    imageId = images.body.items.find((i: { name: string }) => i.name === KERNEL_IMAGE_NAME).id;
  });

  afterAll(async () => {
    // Nothing left on the shared libvirtd, even after a failure.
    for (const { id } of await db.query(`SELECT id FROM vms`)) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--snapshots-metadata', '--nvram');
    }
    await a.close({ keepData: true }).catch(() => undefined);
    await b.close();
  });

  it('creates, lists, reads, updates over its ETag and deletes a schedule; refuses bad timing with 400 on the field', async () => {
    const vmId = await createVm('sched-crud');
    const created = await as(alice.accessToken)
      .post(schedulesOf(vmId))
      .send({ kind: 'snapshot', cron: '0 3 * * *', timeZone: 'Europe/Berlin', keepLast: 7 })
      .expect(201);
    const schedule = created.body as ScheduleBody;
    expect(created.headers.location).toBe(`${schedulesOf(vmId)}/${schedule.id}`);
    expect(created.headers.etag).toBe('"1"');
    expect(schedule).toMatchObject({
      vmId,
      ownerId: alice.id,
      kind: 'snapshot',
      timeZone: 'Europe/Berlin',
      keepLast: 7,
      keepDays: null,
      enabled: true,
      lastRunAt: null,
      lastOperationId: null,
      version: 1,
    });
    // 03:00 in Berlin is 02:00 UTC in winter, 01:00 in summer.
    expect(schedule.nextRunAt).toMatch(/T0[12]:00:00\.000Z$/);

    const list = await as(alice.accessToken).get(schedulesOf(vmId)).expect(200);
    expect(list.body).toEqual({ items: [schedule], nextCursor: null });
    const read = await as(alice.accessToken)
      .get(`${schedulesOf(vmId)}/${schedule.id}`)
      .expect(200);
    expect(read.headers.etag).toBe('"1"');

    const patched = await as(alice.accessToken)
      .patch(`${schedulesOf(vmId)}/${schedule.id}`)
      .set('If-Match', '"1"')
      .send({ cron: '30 4 * * *', timeZone: 'UTC', keepLast: null, keepDays: 14 })
      .expect(200);
    expect(patched.headers.etag).toBe('"2"');
    expect(patched.body).toMatchObject({ cron: '30 4 * * *', keepLast: null, keepDays: 14, version: 2 });
    expect(patched.body.nextRunAt).toMatch(/T04:30:00\.000Z$/);
    expectProblem(
      await as(alice.accessToken)
        .patch(`${schedulesOf(vmId)}/${schedule.id}`)
        .set('If-Match', '"1"')
        .send({ enabled: false }),
      412,
      'PRECONDITION_FAILED',
    );

    const bad = async (body: Record<string, unknown>, field: string, t = a) => {
      const res = await as(alice.accessToken, t).post(schedulesOf(vmId)).send(body);
      expectProblem(res, 400, 'VALIDATION_FAILED');
      expect([body, res.body.errors.map((e: { field: string }) => e.field)]).toEqual([body, [field]]);
    };
    await bad({ kind: 'snapshot', cron: '61 * * * *' }, 'cron');
    await bad({ kind: 'snapshot', cron: 'every day' }, 'cron');
    await bad({ kind: 'snapshot', cron: '0 0 * * * *' }, 'cron');
    await bad({ kind: 'snapshot', cron: '0 3 * * *', timeZone: 'Mars/Olympus' }, 'timeZone');
    await bad({ kind: 'snapshot', cron: '0 3 * * *', keepLast: 0 }, 'keepLast');
    await bad({ kind: 'snapshot', cron: '0 3 * * *', keepDays: 1.5 }, 'keepDays');
    await bad({ kind: 'clone', cron: '0 3 * * *' }, 'kind');
    // Replica B allows a slot every 5 minutes at most.
    await bad({ kind: 'snapshot', cron: '* * * * *' }, 'cron', b);
    await bad({ kind: 'snapshot', cron: '0,1 0 29 2 *' }, 'cron', b);
    await as(alice.accessToken, b)
      .post(schedulesOf(vmId))
      .send({ kind: 'backup', cron: '*/5 * * * *', enabled: false })
      .expect(201);
    expectProblem(
      await as(alice.accessToken, b)
        .patch(`${schedulesOf(vmId)}/${schedule.id}`)
        .send({ cron: '*/2 * * * *' }),
      400,
      'VALIDATION_FAILED',
    );

    await as(alice.accessToken)
      .delete(`${schedulesOf(vmId)}/${schedule.id}`)
      .expect(204);
    expectProblem(await as(alice.accessToken).get(`${schedulesOf(vmId)}/${schedule.id}`), 404, 'NOT_FOUND');
    expect((await as(alice.accessToken).get(schedulesOf(vmId)).expect(200)).body.items).toHaveLength(1);
  });

  it("answers 404 on another user's VM and schedules, and changes nothing", async () => {
    const vmId = await createVm('sched-private');
    const mine = (
      await as(alice.accessToken).post(schedulesOf(vmId)).send({ kind: 'snapshot', cron: '0 3 * * *' }).expect(201)
    ).body as ScheduleBody;
    const other = as(bob.accessToken);
    expectProblem(await other.get(schedulesOf(vmId)), 404, 'NOT_FOUND');
    expectProblem(await other.post(schedulesOf(vmId)).send({ kind: 'snapshot', cron: '0 4 * * *' }), 404, 'NOT_FOUND');
    expectProblem(await other.get(`${schedulesOf(vmId)}/${mine.id}`), 404, 'NOT_FOUND');
    expectProblem(await other.patch(`${schedulesOf(vmId)}/${mine.id}`).send({ enabled: false }), 404, 'NOT_FOUND');
    expectProblem(await other.delete(`${schedulesOf(vmId)}/${mine.id}`), 404, 'NOT_FOUND');
    // A schedule id under another VM of the caller's is no way in either.
    const bobCreate = await other
      .post('/api/v1/vms')
      .send({ name: 'bob-vm', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: false })
      .expect(202);
    expect(await waitOp(bob.accessToken, bobCreate.body.operation.id)).toMatchObject({ status: 'succeeded' });
    const bobVm = bobCreate.body.vm.id;
    expectProblem(await other.get(`${schedulesOf(bobVm)}/${mine.id}`), 404, 'NOT_FOUND');
    expect(await getSchedule(vmId, mine.id)).toEqual(mine);
    // Admins see it.
    await as(admin.accessToken)
      .get(`${schedulesOf(vmId)}/${mine.id}`)
      .expect(200);
  });

  it('every minute with keepLast 3: after 5 slots exactly the newest 3 snapshots, each run an audited operation', async () => {
    const vmId = await createVm('sched-keep');
    const schedule = (
      await as(alice.accessToken)
        .post(schedulesOf(vmId))
        .send({ kind: 'snapshot', cron: '* * * * *', keepLast: 3 })
        .expect(201)
    ).body as ScheduleBody;
    await holdOff(schedule.id, schedule.nextRunAt);
    // Five consecutive minutes, some time ago (the slots a five-minute wait would have brought).
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
    const slots = [0, 1, 2, 3, 4].map((i) => new Date(base + i * 60_000));
    const names = slots.map((slot) => `auto-${slot.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`);
    const operations: string[] = [];
    for (const slot of slots) {
      const ran = await runSlot(vmId, schedule.id, slot);
      expect(ran).toMatchObject({ lastError: null, lastOperationId: expect.any(String) });
      // The run is an operation of the VM's owner, streamed and waited on like any other.
      expect(await waitOp(alice.accessToken, ran.lastOperationId!)).toMatchObject({
        kind: 'snapshot.create',
        status: 'succeeded',
      });
      operations.push(ran.lastOperationId!);
    }
    // Within a tick or two of the last copy being ready, retention leaves the newest three.
    let snapshots: Record<string, string[]> = {};
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(250)) {
      snapshots = await snapshotsOf(vmId);
      if (snapshots.ready?.length === 3 && Object.keys(snapshots).length === 1) break;
    }
    expect(snapshots).toEqual({ ready: names.slice(2) });
    const onTheHypervisor = virsh('snapshot-list', '--name', `limen-${vmId}`).stdout.split('\n').filter(Boolean).sort();
    expect(onTheHypervisor).toEqual(names.slice(2));
    expect(await countOps(vmId, 'snapshot.create')).toBe(5);
    expect(await countOps(vmId, 'snapshot.delete')).toBe(2);

    const audit = await as(admin.accessToken)
      .get(`/api/v1/audit?action=schedule.run&targetId=${schedule.id}`)
      .expect(200);
    expect(audit.body.items).toHaveLength(5);
    expect(audit.body.items.map((e: { details: { operationId: string } }) => e.details.operationId).sort()).toEqual(
      [...operations].sort(),
    );
    expect(audit.body.items.every((e: { result: string }) => e.result === 'success')).toBe(true);
  });

  it('an api down for 3 slots runs once when it is back, and moves on to the next slot from now', async () => {
    const vmId = await createVm('sched-missed');
    const schedule = (
      await as(alice.accessToken).post(schedulesOf(vmId)).send({ kind: 'snapshot', cron: '* * * * *' }).expect(201)
    ).body as ScheduleBody;
    await holdOff(schedule.id, schedule.nextRunAt);
    await awayFromTheMinute();
    const threeSlotsAgo = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3 * 60_000);
    const ran = await runSlot(vmId, schedule.id, threeSlotsAgo);
    expect(new Date(ran.nextRunAt).getTime()).toBeGreaterThan(Date.now());
    expect(new Date(ran.nextRunAt).getTime() - Date.now()).toBeLessThanOrEqual(60_000);
    expect(await waitOp(alice.accessToken, ran.lastOperationId!)).toMatchObject({ status: 'succeeded' });
    // Several more ticks: nothing else runs.
    await sleep(3_000);
    expect(await countOps(vmId, 'snapshot.create')).toBe(1);
    expect((await snapshotsOf(vmId)).ready).toHaveLength(1);
  });

  it("two schedules of one VM due in the same slot both run: the second waits for the first's operation", async () => {
    const vmId = await createVm('sched-together');
    const schedules: ScheduleBody[] = [];
    for (const cron of ['* * * * *', '*/5 * * * *']) {
      const s = (await as(alice.accessToken).post(schedulesOf(vmId)).send({ kind: 'snapshot', cron }).expect(201))
        .body as ScheduleBody;
      await holdOff(s.id, s.nextRunAt);
      schedules.push(s);
    }
    await awayFromTheMinute();
    // This minute: due for both, and each has until the slot after it (15 s away at least) to run.
    const slot = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    for (const s of schedules) await db.query(`UPDATE schedules SET next_run_at = $2 WHERE id = $1`, [s.id, slot]);
    const ran: ScheduleBody[] = [];
    for (const s of schedules) {
      let now = await getSchedule(vmId, s.id);
      for (const deadline = Date.now() + 30_000; !now.lastOperationId && !now.lastError && Date.now() < deadline;) {
        await sleep(100);
        now = await getSchedule(vmId, s.id);
      }
      await holdOff(s.id, now.nextRunAt);
      ran.push(now);
    }
    expect(ran.map((s) => s.lastError)).toEqual([null, null]);
    // A claim and a record each (+2), and for the one that met the VM busy a give-back and a claim
    // more per tick it found the VM busy (+2 each).
    const bumps = ran.map((s, i) => s.version - schedules[i].version).sort((x, y) => x - y);
    expect(bumps[0]).toBe(2);
    expect(bumps[1]).toBeGreaterThanOrEqual(4);
    for (const s of ran)
      expect(await waitOp(alice.accessToken, s.lastOperationId!)).toMatchObject({ status: 'succeeded' });
    const name = `auto-${slot.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`;
    const names = (await snapshotsOf(vmId)).ready;
    expect(names).toHaveLength(2);
    expect(names).toContain(name);
    expect(names.find((n) => n !== name)).toMatch(new RegExp(`^${name}-[0-9a-f]{8}$`));
  });

  it('a backup schedule takes its backups as backup.create operations, and keepLast 1 leaves the newest', async () => {
    const vmId = await createVm('sched-backup');
    const schedule = (
      await as(alice.accessToken)
        .post(schedulesOf(vmId))
        .send({ kind: 'backup', cron: '* * * * *', keepLast: 1 })
        .expect(201)
    ).body as ScheduleBody;
    await holdOff(schedule.id, schedule.nextRunAt);
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 20 * 60_000;
    for (const slot of [new Date(base), new Date(base + 60_000)]) {
      const ran = await runSlot(vmId, schedule.id, slot);
      expect(ran.lastError).toBeNull();
      expect(await waitOp(alice.accessToken, ran.lastOperationId!)).toMatchObject({
        kind: 'backup.create',
        status: 'succeeded',
      });
    }
    type Backup = { id: string; scheduleId: string | null; state: string; createdAt: string };
    let backups: Backup[] = [];
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(250)) {
      backups = (await as(alice.accessToken).get(`/api/v1/vms/${vmId}/backups`).expect(200)).body.items;
      if (backups.length === 1) break;
    }
    expect(backups).toEqual([expect.objectContaining({ scheduleId: schedule.id, state: 'ready' })]);
    const created = await db.query(
      `SELECT params->>'backupId' AS id FROM operations WHERE vm_id = $1 AND kind = 'backup.create' ORDER BY created_at`,
      [vmId],
    );
    expect(created.map((op: { id: string }) => op.id)).toHaveLength(2);
    expect(backups[0].id).toBe(created[1].id);
  });

  it('two replicas ticking at once never run the same slot twice', async () => {
    const vmIds = [await createVm('sched-replica-1'), await createVm('sched-replica-2')];
    const schedules: ScheduleBody[] = [];
    for (const vmId of vmIds) {
      const s = (
        await as(alice.accessToken).post(schedulesOf(vmId)).send({ kind: 'snapshot', cron: '* * * * *' }).expect(201)
      ).body as ScheduleBody;
      await holdOff(s.id, s.nextRunAt);
      schedules.push(s);
    }
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000;
    const jobs = [a, b].map((t) => t.app.get(ScheduleRunnerJob));
    for (let round = 0; round < 3; round++) {
      await awayFromTheMinute();
      const slot = new Date(base + round * 60_000);
      const versions = await Promise.all(schedules.map(async (s) => (await getSchedule(s.vmId, s.id)).version));
      for (const s of schedules) await db.query(`UPDATE schedules SET next_run_at = $2 WHERE id = $1`, [s.id, slot]);
      // Both replicas (and the leader's own interval, every second) go for the same slots at once.
      await Promise.all([...jobs, ...jobs].map((job) => job.tick()));
      for (const [i, s] of schedules.entries()) {
        // The leader's interval may have won the claim and still be recording its run.
        const ran = await claimedAndRan(s.vmId, s.id, versions[i]);
        expect(new Date(ran.nextRunAt).getTime()).toBeGreaterThan(slot.getTime());
        expect(await waitOp(alice.accessToken, ran.lastOperationId!)).toMatchObject({ status: 'succeeded' });
      }
    }
    for (const [i, vmId] of vmIds.entries()) {
      expect(await countOps(vmId, 'snapshot.create')).toBe(3);
      const audit = await as(admin.accessToken)
        .get(`/api/v1/audit?action=schedule.run&targetId=${schedules[i].id}`)
        .expect(200);
      const slots = audit.body.items.map((e: { details: { slot: string } }) => e.details.slot);
      expect(new Set(slots).size).toBe(3);
      expect(slots).toHaveLength(3);
    }
  });
});
