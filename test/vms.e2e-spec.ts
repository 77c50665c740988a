import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { domainExists, GUEST_MARKER, KERNEL_IMAGE_NAME, openEventStream, virsh, vmFiles } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(180_000);

describe('VMs on the real hypervisor (e2e)', () => {
  let t: TestApp;
  let base: string;
  let admin: { accessToken: string };
  let alice: { id: string; accessToken: string };
  let imageId: string;
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
    patch: (path: string) => request(t.http).patch(path).auth(token, { type: 'bearer' }),
    put: (path: string) => request(t.http).put(path).auth(token, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }),
  });

  async function waitOp(token: string, location: string): Promise<{ status: string; error: unknown }> {
    const res = await as(token).get(`${location}/wait?timeout=60`).expect(200);
    // The long-poll's answer is built from the finishing UPDATE's row: it must be what a read shows.
    if (res.body.status === 'succeeded' || res.body.status === 'failed')
      expect((await as(token).get(location).expect(200)).body).toEqual(res.body);
    return res.body;
  }

  async function createVm(token: string, name: string, extra: Record<string, unknown> = {}) {
    const res = await as(token)
      .post('/api/v1/vms')
      .send({ name, vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, ...extra });
    expect(res.status).toBe(202);
    const op = await waitOp(token, res.headers.location);
    expect(op).toEqual(expect.objectContaining({ status: 'succeeded', error: null }));
    return res.body.vm as { id: string };
  }

  async function act(token: string, vmId: string, action: string) {
    const res = await as(token).post(`/api/v1/vms/${vmId}/actions`).send({ action, force: true, timeoutSeconds: 20 });
    expect(res.status).toBe(202);
    expect((await waitOp(token, res.headers.location)).status).toBe('succeeded');
    return (await as(token).get(`/api/v1/vms/${vmId}`).expect(200)).body.state as string;
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const value = await probe();
      if (value) return value;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  beforeAll(async () => {
    t = await startTestApp({ DEFAULT_QUOTA_VMS: '10' });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    const images = await as(alice.accessToken).get('/api/v1/images').expect(200);
    imageId = images.body.items.find(
      (i: { name: string; kind: string }) => i.name === KERNEL_IMAGE_NAME && i.kind === 'kernel',
    ).id;
  });
  afterAll(async () => {
    // Leave nothing behind on the shared libvirtd, even after a failure.
    const ids: Array<{ id: string }> = await t.app.get(DataSource).query(`SELECT id FROM vms`);
    for (const { id } of ids) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--snapshots-metadata');
    }
    await t.close();
  });

  it('creates a VM from the kernel image, boots it to the marker, runs the lifecycle and deletes it cleanly', async () => {
    const vm = await createVm(alice.accessToken, 'life');
    const started = Date.now();
    const serial = await until(
      'the guest marker',
      async () => {
        const res = await as(alice.accessToken).get(`/api/v1/vms/${vm.id}/serial?bytes=65536`);
        return res.status === 200 && res.text.includes(GUEST_MARKER) ? res.text : undefined;
      },
      30_000,
    );
    expect(serial).toContain(GUEST_MARKER);
    console.log(`guest marker ${Date.now() - started} ms after the create operation succeeded`);
    expect((await as(alice.accessToken).get(`/api/v1/vms/${vm.id}`).expect(200)).body.state).toBe('running');

    const stats = await as(alice.accessToken).get(`/api/v1/vms/${vm.id}/stats`).expect(200);
    expect(stats.body.memory.currentMiB).toBe(128);
    expect(stats.body.cpuPercent).toBeGreaterThanOrEqual(0);
    const shot = await as(alice.accessToken).get(`/api/v1/vms/${vm.id}/screenshot`).expect(200);
    expect(shot.headers['content-type']).toBe('image/png');
    expect((shot.body as Buffer).subarray(1, 4).toString()).toBe('PNG');

    expect(await act(alice.accessToken, vm.id, 'stop')).toBe('stopped');
    expect(await act(alice.accessToken, vm.id, 'start')).toBe('running');
    expect(await act(alice.accessToken, vm.id, 'reboot')).toBe('running');
    expect(await act(alice.accessToken, vm.id, 'suspend')).toBe('paused');
    expect(await act(alice.accessToken, vm.id, 'resume')).toBe('running');
    expect(await act(alice.accessToken, vm.id, 'reset')).toBe('running');
    // The test guest powers off on the ACPI button once it has printed its marker.
    await until(
      'the marker after reset',
      async () => (await as(alice.accessToken).get(`/api/v1/vms/${vm.id}/serial`)).text.split(GUEST_MARKER).length > 2,
      30_000,
    );
    expect(await act(alice.accessToken, vm.id, 'shutdown')).toBe('stopped');
    expect(await act(alice.accessToken, vm.id, 'start')).toBe('running');
    expectProblem(
      await as(alice.accessToken).post(`/api/v1/vms/${vm.id}/actions`).send({ action: 'resume' }),
      409,
      'INVALID_STATE',
    );

    const quotaBefore = (await as(alice.accessToken).get('/api/v1/quota').expect(200)).body.usage;
    expect(quotaBefore).toEqual(expect.objectContaining({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 }));
    const del = await as(alice.accessToken).delete(`/api/v1/vms/${vm.id}`).expect(202);
    expect(del.body.vm.state).toBe('deleting');
    expect((await waitOp(alice.accessToken, del.headers.location)).status).toBe('succeeded');
    expectProblem(await as(alice.accessToken).get(`/api/v1/vms/${vm.id}`), 404, 'NOT_FOUND');
    expect(domainExists(vm.id)).toBe(false);
    expect(vmFiles(t.vmDir, vm.id).all).toEqual([]);
    expect((await as(alice.accessToken).get('/api/v1/quota').expect(200)).body.usage).toEqual(
      expect.objectContaining({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 }),
    );
  });

  it('never overcommits: 20 concurrent creates against a quota of 3 VMs', async () => {
    const bob = await createUser(t.http, admin.accessToken, 'bob');
    await as(admin.accessToken).put(`/api/v1/users/${bob.id}/quota`).send({ vms: 3 }).expect(200);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        as(bob.accessToken)
          .post('/api/v1/vms')
          .send({ name: `race-${i}`, vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId, start: false }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(3);
    expect(statuses.filter((s) => s === 403)).toHaveLength(17);
    for (const denied of results.filter((r) => r.status === 403)) {
      expectProblem(denied, 403, 'QUOTA_EXCEEDED');
      expect(denied.body).toEqual(expect.objectContaining({ resource: 'vms', limit: 3, used: 3, requested: 1 }));
    }
    for (const ok of results.filter((r) => r.status === 202)) await waitOp(bob.accessToken, ok.headers.location);
    const quota = await as(bob.accessToken).get('/api/v1/quota').expect(200);
    expect(quota.body.usage.vms).toBe(3);
    expect(quota.body.limits.vms).toBe(3);
    const list = await as(bob.accessToken).get('/api/v1/vms').expect(200);
    expect(list.body.items).toHaveLength(3);
    for (const vm of list.body.items) {
      const del = await as(bob.accessToken).delete(`/api/v1/vms/${vm.id}`).expect(202);
      await waitOp(bob.accessToken, del.headers.location);
    }
  });

  it('lists exactly what GET /vms/{id} shows, page by page (the list body is rendered by PostgreSQL)', async () => {
    const erin = await createUser(t.http, admin.accessToken, 'erin');
    const descriptions = [
      'quote " backslash \\ slash /',
      'lines\nand\ttabs\r\n',
      '<b>&amp;</b> é ü 漢字 😀 \u2028\u2029',
      '',
    ];
    const ids: string[] = [];
    for (const [i, description] of descriptions.entries())
      ids.push((await createVm(erin.accessToken, `page-${i}`, { description, start: false })).id);
    const one = async (id: string) => (await as(erin.accessToken).get(`/api/v1/vms/${id}`).expect(200)).body;
    // A second VM of the same name is refused, and its quota reservation goes with it.
    const duplicate = await as(erin.accessToken)
      .post('/api/v1/vms')
      .send({ name: 'page-0', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: false });
    expectProblem(duplicate, 409, 'CONFLICT');
    expect((await as(erin.accessToken).get('/api/v1/quota').expect(200)).body.usage.vms).toBe(descriptions.length);

    const seen: unknown[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: request.Response = await as(erin.accessToken)
        .get(`/api/v1/vms?limit=3${cursor ? `&cursor=${cursor}` : ''}`)
        .expect(200);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      // Compact, exactly as JSON.stringify writes it.
      expect(res.text).toBe(JSON.stringify(res.body));
      expect(Object.keys(res.body)).toEqual(['items', 'nextCursor']);
      for (const item of res.body.items) {
        // Byte for byte: the same keys in the same order and the same values as VmDto.from.
        expect(JSON.stringify(item)).toBe(JSON.stringify(await one(item.id)));
        seen.push(item.id);
      }
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(2);
    expect(seen).toEqual([...ids].reverse());

    const filtered = await as(erin.accessToken).get('/api/v1/vms?name=page-1&state=stopped').expect(200);
    expect(filtered.body).toEqual({ items: [await one(ids[1])], nextCursor: null });
    expect((await as(erin.accessToken).get('/api/v1/vms?state=running').expect(200)).body).toEqual({
      items: [],
      nextCursor: null,
    });
    // Another user's list is theirs alone, and an admin filters by owner.
    expect((await as(alice.accessToken).get('/api/v1/vms?name=page-1').expect(200)).body.items).toEqual([]);
    expect(
      (await as(admin.accessToken).get(`/api/v1/vms?ownerId=${erin.id}&limit=100`).expect(200)).body.items.map(
        (v: { id: string }) => v.id,
      ),
    ).toEqual([...ids].reverse());
    for (const id of ids)
      await waitOp(
        erin.accessToken,
        (await as(erin.accessToken).delete(`/api/v1/vms/${id}`).expect(202)).headers.location,
      );
  });

  it('creates one VM for five concurrent POSTs with one Idempotency-Key, and refuses the key with another body', async () => {
    const carol = await createUser(t.http, admin.accessToken, 'carol');
    const body = { name: 'idem', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId, start: false };
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        as(carol.accessToken).post('/api/v1/vms').set('Idempotency-Key', 'create-idem-1').send(body),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
    expect(new Set(results.map((r) => r.body.vm.id)).size).toBe(1);
    expect(new Set(results.map((r) => r.headers.location)).size).toBe(1);
    const list = await as(carol.accessToken).get('/api/v1/vms').expect(200);
    expect(list.body.items).toHaveLength(1);
    expectProblem(
      await as(carol.accessToken)
        .post('/api/v1/vms')
        .set('Idempotency-Key', 'create-idem-1')
        .send({ ...body, name: 'other' }),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    );
    await waitOp(carol.accessToken, results[0].headers.location);
    // A replay is the first answer as it was sent (status, Location, ETag, body), though the VM has moved on since.
    expect(new Set(results.map((r) => r.headers.etag))).toEqual(new Set(['"1"']));
    const replay = await as(carol.accessToken).post('/api/v1/vms').set('Idempotency-Key', 'create-idem-1').send(body);
    expect(replay.status).toBe(202);
    expect(replay.headers.location).toBe(results[0].headers.location);
    expect(replay.headers.etag).toBe('"1"');
    expect(replay.body).toEqual(results[0].body);
    const now = await as(carol.accessToken).get(`/api/v1/vms/${results[0].body.vm.id}`).expect(200);
    expect(now.headers.etag).not.toBe('"1"');
  });

  it('reflects an out-of-band virsh destroy within 1 s with an SSE event, and an undefine as missing after the sweep', async () => {
    const vm = await createVm(alice.accessToken, 'oob');
    const stream = await openEventStream(base, alice.accessToken);
    try {
      const issuedAt = Date.now();
      expect(virsh('destroy', `limen-${vm.id}`).status).toBe(0);
      // virsh destroy itself takes over a second under TCG; the clock for "within 1 s" starts when it returns.
      const returnedAt = Date.now();
      const event = await stream.waitFor(
        (e) => e.type === 'vm.state' && e.data.vmId === vm.id && e.data.state === 'stopped',
        5_000,
      );
      console.log(
        `out-of-band destroy: virsh took ${returnedAt - issuedAt} ms; SSE vm.state arrived ${event.receivedAt - returnedAt} ms after it returned`,
      );
      expect(event.receivedAt - returnedAt).toBeLessThan(1_000);
      const res = await as(alice.accessToken).get(`/api/v1/vms/${vm.id}`).expect(200);
      expect(res.body.state).toBe('stopped');

      expect(virsh('undefine', `limen-${vm.id}`).status).toBe(0);
      await until(
        'state missing',
        async () => (await as(alice.accessToken).get(`/api/v1/vms/${vm.id}`)).body.state === 'missing',
        10_000,
      );
    } finally {
      stream.close();
    }
    const del = await as(alice.accessToken).delete(`/api/v1/vms/${vm.id}`).expect(202);
    expect((await waitOp(alice.accessToken, del.headers.location)).status).toBe('succeeded');
  });

  it('replays missed events after Last-Event-ID, only those the caller may see', async () => {
    const first = await openEventStream(base, alice.accessToken);
    const vm = await createVm(alice.accessToken, 'replayed', { start: false });
    const created = await first.waitFor((e) => e.type === 'vm.created' && e.data.id === vm.id, 5_000);
    first.close();
    const del = await as(alice.accessToken).delete(`/api/v1/vms/${vm.id}`).expect(202);
    await waitOp(alice.accessToken, del.headers.location);
    const replay = await openEventStream(base, alice.accessToken, created.id);
    await replay.waitFor((e) => e.type === 'vm.deleted' && e.data.vmId === vm.id, 5_000);
    replay.close();
    const dave = await createUser(t.http, admin.accessToken, 'dave');
    const other = await openEventStream(base, dave.accessToken, '0');
    await new Promise((r) => setTimeout(r, 500));
    other.close();
    expect(other.events.filter((e) => e.data.vmId === vm.id || e.data.id === vm.id)).toEqual([]);
  });

  it('restores disk content on snapshot revert (pattern written with qemu-io)', async () => {
    const vm = await createVm(alice.accessToken, 'snappy', { start: false });
    const { disk } = vmFiles(t.vmDir, vm.id);
    const io = (cmd: string) => execFileSync('qemu-io', ['-f', 'qcow2', '-c', cmd, disk], { encoding: 'utf8' });
    io('write -P 0xab 0 64k');
    const snap = await as(alice.accessToken)
      .post(`/api/v1/vms/${vm.id}/snapshots`)
      .send({ name: 'known-good', description: '<b>"pattern" & more</b>' })
      .expect(202);
    expect((await waitOp(alice.accessToken, snap.headers.location)).status).toBe('succeeded');
    const listed = await as(alice.accessToken).get(`/api/v1/vms/${vm.id}/snapshots`).expect(200);
    expect(listed.body.items).toEqual([
      expect.objectContaining({ name: 'known-good', state: 'ready', description: '<b>"pattern" & more</b>' }),
    ]);
    expect((await as(alice.accessToken).get('/api/v1/quota')).body.usage.snapshots).toBe(1);

    io('write -P 0xcd 0 64k');
    expect(io('read -P 0xcd 0 64k')).not.toMatch(/Pattern verification failed/);
    const revert = await as(alice.accessToken)
      .post(`/api/v1/vms/${vm.id}/snapshots/${snap.body.snapshot.id}/revert`)
      .expect(202);
    expect((await waitOp(alice.accessToken, revert.headers.location)).status).toBe('succeeded');
    expect(io('read -P 0xab 0 64k')).not.toMatch(/Pattern verification failed/);

    const removed = await as(alice.accessToken)
      .delete(`/api/v1/vms/${vm.id}/snapshots/${snap.body.snapshot.id}`)
      .expect(202);
    expect((await waitOp(alice.accessToken, removed.headers.location)).status).toBe('succeeded');
    expect((await as(alice.accessToken).get('/api/v1/quota')).body.usage.snapshots).toBe(0);
    const del = await as(alice.accessToken).delete(`/api/v1/vms/${vm.id}`).expect(202);
    await waitOp(alice.accessToken, del.headers.location);
  });

  it('answers a stale If-Match with 412, and applies a fresh one', async () => {
    const vm = await createVm(alice.accessToken, 'etag', { start: false });
    const read = await as(alice.accessToken).get(`/api/v1/vms/${vm.id}`).expect(200);
    const etag = read.headers.etag;
    await as(alice.accessToken)
      .patch(`/api/v1/vms/${vm.id}`)
      .set('If-Match', etag)
      .send({ description: 'first' })
      .expect(200);
    expectProblem(
      await as(alice.accessToken).patch(`/api/v1/vms/${vm.id}`).set('If-Match', etag).send({ description: 'second' }),
      412,
      'PRECONDITION_FAILED',
    );
    const resized = await as(alice.accessToken)
      .patch(`/api/v1/vms/${vm.id}`)
      .send({ vcpus: 2, memoryMiB: 192 })
      .expect(202);
    const op = await waitOp(alice.accessToken, resized.headers.location);
    expect(op.status).toBe('succeeded');
    const after = await as(alice.accessToken).get(`/api/v1/vms/${vm.id}`).expect(200);
    expect(after.body).toEqual(expect.objectContaining({ vcpus: 2, memoryMiB: 192, description: 'first' }));
    const del = await as(alice.accessToken).delete(`/api/v1/vms/${vm.id}`).expect(202);
    await waitOp(alice.accessToken, del.headers.location);
  });

  it('finishes a delete that failed half-way: the owner may ask again, and the sweep asks again by itself', async () => {
    const usage = async () => (await as(alice.accessToken).get('/api/v1/quota').expect(200)).body.usage.vms as number;
    const before = await usage();
    const vm = await createVm(alice.accessToken, 'half-deleted', { start: false });
    // A mount point where the VM's serial log goes: the domain goes, but that volume cannot be removed.
    const pin = vmFiles(t.vmDir, vm.id).serialLog;
    mkdirSync(pin);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1M', 'tmpfs', pin]);
    try {
      const first = await as(alice.accessToken).delete(`/api/v1/vms/${vm.id}`).expect(202);
      expect((await waitOp(alice.accessToken, first.headers.location)).status).toBe('failed');
      expect((await as(alice.accessToken).get(`/api/v1/vms/${vm.id}`).expect(200)).body.state).toBe('deleting');
      // Asked again at once (the sweep waits a reconcile interval before its own retry).
      const again = await as(alice.accessToken).delete(`/api/v1/vms/${vm.id}`).expect(202);
      expect((await waitOp(alice.accessToken, again.headers.location)).status).toBe('failed');
    } finally {
      execFileSync('umount', [pin]);
    }
    // Nobody asks a third time: the sweep resumes the delete (after 2 × the 2 s interval here).
    await until(
      'the sweep to finish the delete',
      async () => (await as(alice.accessToken).get(`/api/v1/vms/${vm.id}`)).status === 404,
      20_000,
    );
    expect(domainExists(vm.id)).toBe(false);
    expect(vmFiles(t.vmDir, vm.id).all).toEqual([]);
    expect(await usage()).toBe(before);
  });

  it('refuses hostile input with problem+json and creates nothing', async () => {
    const count = async () => (await t.app.get(DataSource).query(`SELECT count(*)::int AS n FROM vms`))[0].n as number;
    const before = await count();
    const bad: Array<[Record<string, unknown>, number, string]> = [
      [{ name: '<domain type="kvm">' }, 400, 'VALIDATION_FAILED'],
      [{ name: "x'; virsh destroy --all" }, 400, 'VALIDATION_FAILED'],
      [{ name: 'ctl\u0007\u0000' }, 400, 'VALIDATION_FAILED'],
      [{ name: 'a'.repeat(10 * 1024) }, 400, 'VALIDATION_FAILED'],
      [{ name: '../../etc/passwd' }, 400, 'VALIDATION_FAILED'],
      [{ imageId: '00000000-0000-4000-8000-000000000000' }, 400, 'VALIDATION_FAILED'],
      [{ imageId: '../images/tiny-guest' }, 400, 'VALIDATION_FAILED'],
      [{ vcpus: 'two' }, 400, 'VALIDATION_FAILED'],
      [{ memoryMiB: -1 }, 400, 'VALIDATION_FAILED'],
      [{ diskGiB: 1.5 }, 400, 'VALIDATION_FAILED'],
      [{ description: 'x'.repeat(2000) }, 400, 'VALIDATION_FAILED'],
      [{ cloudInit: { userData: 'x' } }, 400, 'VALIDATION_FAILED'],
      [{ hostId: 'not-allowed' }, 400, 'VALIDATION_FAILED'],
    ];
    for (const [override, status, code] of bad) {
      const res = await as(alice.accessToken)
        .post('/api/v1/vms')
        .send({ name: 'hostile', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId, ...override });
      expectProblem(res, status, code);
    }
    const vm = await createVm(alice.accessToken, 'target', {
      start: false,
      description: '<metadata><limen:owner>evil</limen:owner></metadata>]]>&amp;',
    });
    expectProblem(
      await as(alice.accessToken).post(`/api/v1/vms/${vm.id}/actions`).send({ action: 'explode' }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await as(alice.accessToken)
        .post(`/api/v1/vms/${vm.id}/actions`)
        .send({ action: ['start'] }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await as(alice.accessToken).post(`/api/v1/vms/${vm.id}/media`).send({ imageId }),
      400,
      'VALIDATION_FAILED',
    );
    expect(await count()).toBe(before + 1);
    const domain = virsh('dumpxml', `limen-${vm.id}`).stdout;
    expect(domain).toContain('&lt;metadata&gt;&lt;limen:owner&gt;evil');
    expect(/ownerId>([^<]+)</.exec(domain)?.[1]).toBe(alice.id);
    const del = await as(alice.accessToken).delete(`/api/v1/vms/${vm.id}`).expect(202);
    await waitOp(alice.accessToken, del.headers.location);
  });
});
