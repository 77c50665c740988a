import request from 'supertest';
import { DataSource } from 'typeorm';
import { KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(120_000);

interface Entry {
  action: string;
  actorUsername: string | null;
  actorId: string | null;
  targetId: string | null;
  result: string;
  statusCode: number;
  errorCode: string | null;
  requestId: string;
  ip: string;
  userAgent: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  details: Record<string, unknown> | null;
}

describe('audit trail (e2e)', () => {
  let t: TestApp;
  let admin: string;
  const auditQuery = async (query: string): Promise<Entry[]> =>
    (await request(t.http).get(`/api/v1/audit?limit=500&${query}`).set('Authorization', `Bearer ${admin}`).expect(200))
      .body.items;
  /** Records are written when the response finishes; give the last one a moment. */
  const settle = () => new Promise((r) => setTimeout(r, 150));

  beforeAll(async () => {
    t = await startTestApp();
    admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
  });
  afterAll(async () => {
    for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM vms`)) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`);
    }
    await t.close();
  });

  it('records logins, failures, logout and refresh-token reuse, with request id, IP and user agent', async () => {
    const user = await createUser(t.http, admin, 'audited');
    await request(t.http)
      .post('/api/v1/auth/login')
      .set('User-Agent', 'audit-test/1.0')
      .set('X-Request-Id', 'audit-fail-1')
      .send({ username: 'audited', password: 'definitely-wrong' })
      .expect(401);
    const second = await request(t.http)
      .post('/api/v1/auth/refresh')
      .send({ refreshToken: user.refreshToken })
      .expect(200);
    // Once its successor is spent too, the first token again is reuse (not a second tab's race).
    await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: second.body.refreshToken }).expect(200);
    await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: user.refreshToken }).expect(401);
    const again = await login(t.http, 'audited', user.password);
    await request(t.http).post('/api/v1/auth/logout').send({ refreshToken: again.refreshToken }).expect(204);
    expect(second.body.refreshToken).toBeDefined();
    await settle();

    const logins = await auditQuery('action=auth.login');
    const failure = logins.find((e) => e.requestId === 'audit-fail-1')!;
    expect(failure).toEqual(
      expect.objectContaining({
        actorUsername: 'audited',
        actorId: null,
        result: 'failure',
        statusCode: 401,
        errorCode: 'INVALID_CREDENTIALS',
        userAgent: 'audit-test/1.0',
        ip: expect.stringMatching(/127\.0\.0\.1/),
      }),
    );
    expect(
      logins.filter((e) => e.actorUsername === 'audited' && e.result === 'success' && e.targetId === user.id).length,
    ).toBe(2);
    expect(await auditQuery('action=auth.refresh-reuse-detected')).toEqual([
      expect.objectContaining({ targetId: user.id, result: 'failure', statusCode: 401 }),
    ]);
    expect((await auditQuery('action=auth.logout')).length).toBe(1);
    expect(JSON.stringify(await auditQuery(''))).not.toMatch(/definitely-wrong|audited-password-123/);
  });

  it('records user, role and quota changes with before and after', async () => {
    const user = await createUser(t.http, admin, 'promotable');
    await request(t.http)
      .patch(`/api/v1/users/${user.id}`)
      .set('Authorization', `Bearer ${admin}`)
      .send({ role: 'admin' })
      .expect(200);
    await request(t.http)
      .put(`/api/v1/users/${user.id}/quota`)
      .set('Authorization', `Bearer ${admin}`)
      .send({ vms: 2, snapshots: null })
      .expect(200);
    await settle();
    const [roleChange] = await auditQuery(`action=users.update&targetId=${user.id}`);
    expect(roleChange).toEqual(
      expect.objectContaining({
        actorUsername: ADMIN.username,
        result: 'success',
        before: { role: 'user', status: 'active' },
        after: { role: 'admin', status: 'active', passwordChanged: false },
        details: { role: 'admin' },
      }),
    );
    const [quota] = await auditQuery(`action=quotas.set&targetId=${user.id}`);
    expect(quota.before).toEqual(expect.objectContaining({ vms: 10 }));
    expect(quota.after).toEqual(expect.objectContaining({ vms: 2 }));
    expect(await auditQuery(`action=users.create&targetId=${user.id}`)).toHaveLength(1);
  });

  it('records VM create, action and delete, and nothing for reads', async () => {
    const user = await createUser(t.http, admin, 'vmowner');
    const auth = { Authorization: `Bearer ${user.accessToken}` };
    const imageId = (await request(t.http).get('/api/v1/images').set(auth)).body.items.find(
      (i: { name: string }) => i.name === KERNEL_IMAGE_NAME,
    ).id;
    const created = await request(t.http)
      .post('/api/v1/vms')
      .set(auth)
      .send({ name: 'audited-vm', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId, start: false })
      .expect(202);
    await request(t.http).get(`${created.headers.location}/wait?timeout=60`).set(auth).expect(200);
    const vmId = created.body.vm.id;
    const started = await request(t.http)
      .post(`/api/v1/vms/${vmId}/actions`)
      .set(auth)
      .send({ action: 'start' })
      .expect(202);
    await request(t.http).get(`${started.headers.location}/wait?timeout=60`).set(auth).expect(200);
    const deleted = await request(t.http).delete(`/api/v1/vms/${vmId}`).set(auth).expect(202);
    await request(t.http).get(`${deleted.headers.location}/wait?timeout=60`).set(auth).expect(200);
    await settle();

    const forVm = await auditQuery(`targetId=${vmId}`);
    expect(forVm.map((e) => e.action).sort()).toEqual(['vms.action', 'vms.create', 'vms.remove']);
    expect(forVm.find((e) => e.action === 'vms.action')).toEqual(
      expect.objectContaining({ actorUsername: 'vmowner', statusCode: 202, details: { action: 'start' } }),
    );
    expect(forVm.find((e) => e.action === 'vms.create')!.details).toEqual(
      expect.objectContaining({ name: 'audited-vm', vcpus: 1, start: false }),
    );

    const before = (await t.app.get(DataSource).query(`SELECT count(*)::int AS n FROM audit_log`))[0].n;
    await request(t.http).get('/api/v1/vms').set(auth).expect(200);
    await request(t.http).get('/api/v1/quota').set(auth).expect(200);
    await request(t.http).get('/api/v1/auth/me').set(auth).expect(200);
    await settle();
    expect((await t.app.get(DataSource).query(`SELECT count(*)::int AS n FROM audit_log`))[0].n).toBe(before);
    expect((await auditQuery('')).filter((e) => /\.(get|list|me|wait)$/.test(e.action))).toEqual([]);
  });

  it('is for admins only, filters by actor and time, and refuses to be rewritten', async () => {
    const user = await createUser(t.http, admin, 'nosy');
    expectProblem(
      await request(t.http).get('/api/v1/audit').set('Authorization', `Bearer ${user.accessToken}`),
      403,
      'FORBIDDEN',
    );
    expectProblem(await request(t.http).get('/api/v1/audit'), 401, 'UNAUTHENTICATED');
    const adminId = (await request(t.http).get('/api/v1/auth/me').set('Authorization', `Bearer ${admin}`)).body.id;
    const mine = await auditQuery(`actorId=${adminId}`);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((e) => e.actorId === adminId)).toBe(true);
    expect(await auditQuery(`from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z`)).toEqual([]);
    expectProblem(
      await request(t.http).get('/api/v1/audit?from=yesterday').set('Authorization', `Bearer ${admin}`),
      400,
      'VALIDATION_FAILED',
    );
    const page = await request(t.http).get('/api/v1/audit?limit=2').set('Authorization', `Bearer ${admin}`).expect(200);
    expect(page.body.items).toHaveLength(2);
    expect(page.body.nextCursor).toEqual(expect.any(String));

    const db = t.app.get(DataSource);
    await expect(db.query(`UPDATE audit_log SET action = 'forged'`)).rejects.toThrow(/append-only/);
    await expect(db.query(`DELETE FROM audit_log`)).rejects.toThrow(/append-only/);
  });
});

describe('client addresses behind a reverse proxy (e2e)', () => {
  it('believes X-Forwarded-For only from a trusted proxy', async () => {
    for (const [trustProxy, expected] of [
      ['false', /127\.0\.0\.1/],
      ['loopback', /^203\.0\.113\.7$/],
    ] as const) {
      const t = await startTestApp({ TRUST_PROXY: trustProxy });
      try {
        await request(t.http)
          .post('/api/v1/auth/login')
          .set('X-Forwarded-For', '203.0.113.7')
          .set('X-Request-Id', `xff-${trustProxy}`)
          .send({ username: 'nobody-at-all', password: 'wrong-password' })
          .expect(401);
        await new Promise((r) => setTimeout(r, 150));
        const admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
        const entries = (
          await request(t.http)
            .get('/api/v1/audit?action=auth.login')
            .set('Authorization', `Bearer ${admin}`)
            .expect(200)
        ).body.items as Entry[];
        expect(entries.find((e) => e.requestId === `xff-${trustProxy}`)!.ip).toMatch(expected);
      } finally {
        await t.close();
      }
    }
  });
});
