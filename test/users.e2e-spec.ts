import request from 'supertest';
import { DataSource } from 'typeorm';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

describe('users (e2e)', () => {
  let t: TestApp;
  let admin: { accessToken: string };
  let adminId: string;
  const asAdmin = (r: request.Test) => r.auth(admin.accessToken, { type: 'bearer' });

  beforeAll(async () => {
    t = await startTestApp();
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    adminId = (await asAdmin(request(t.http).get('/api/v1/auth/me'))).body.id;
  });
  afterAll(() => t.close());

  it('lets an admin create, read, update and delete a user', async () => {
    const created = await asAdmin(request(t.http).post('/api/v1/users'))
      .send({ username: 'crud-user', password: 'crud-password-1' })
      .expect(201);
    expect(created.body).toEqual({
      id: expect.any(String),
      username: 'crud-user',
      role: 'user',
      status: 'active',
      totpEnabled: false,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    await asAdmin(request(t.http).get(`/api/v1/users/${created.body.id}`)).expect(200);
    const patched = await asAdmin(request(t.http).patch(`/api/v1/users/${created.body.id}`))
      .send({ role: 'admin' })
      .expect(200);
    expect(patched.body.role).toBe('admin');
    await asAdmin(request(t.http).delete(`/api/v1/users/${created.body.id}`)).expect(204);
    expectProblem(await asAdmin(request(t.http).get(`/api/v1/users/${created.body.id}`)), 404, 'NOT_FOUND');
  });

  it('keeps user management away from plain users and anonymous callers', async () => {
    const user = await createUser(t.http, admin.accessToken, 'plain-user');
    const bearer = (r: request.Test) => r.auth(user.accessToken, { type: 'bearer' });
    expectProblem(await bearer(request(t.http).get('/api/v1/users')), 403, 'FORBIDDEN');
    expectProblem(
      await bearer(request(t.http).post('/api/v1/users')).send({ username: 'sneaky', password: 'sneaky-password' }),
      403,
      'FORBIDDEN',
    );
    expectProblem(
      await bearer(request(t.http).patch(`/api/v1/users/${user.id}`)).send({ role: 'admin' }),
      403,
      'FORBIDDEN',
    );
    expectProblem(await bearer(request(t.http).post(`/api/v1/users/${user.id}/approve`)), 403, 'FORBIDDEN');
    expectProblem(await bearer(request(t.http).delete(`/api/v1/users/${adminId}`)), 403, 'FORBIDDEN');
    expectProblem(await request(t.http).get('/api/v1/users'), 401, 'UNAUTHENTICATED');
    const me = await bearer(request(t.http).get('/api/v1/auth/me')).expect(200);
    expect(me.body.role).toBe('user');
  });

  it('protects the last active admin from demotion, disabling and deletion', async () => {
    expectProblem(
      await asAdmin(request(t.http).patch(`/api/v1/users/${adminId}`)).send({ role: 'user' }),
      409,
      'LAST_ADMIN',
    );
    expectProblem(
      await asAdmin(request(t.http).patch(`/api/v1/users/${adminId}`)).send({ status: 'disabled' }),
      409,
      'LAST_ADMIN',
    );
    expectProblem(await asAdmin(request(t.http).delete(`/api/v1/users/${adminId}`)), 409, 'LAST_ADMIN');
    await asAdmin(request(t.http).get('/api/v1/auth/me')).expect(200);
  });

  it('paginates with a cursor, newest first, without gaps or repeats', async () => {
    const token = admin.accessToken;
    for (let i = 0; i < 7; i++) {
      await request(t.http)
        .post('/api/v1/users')
        .auth(token, { type: 'bearer' })
        .send({ username: `page-${i}`, password: 'page-password-12' })
        .expect(201);
    }
    const all = await request(t.http).get('/api/v1/users?limit=500').auth(token, { type: 'bearer' }).expect(200);
    expect(all.body.nextCursor).toBeNull();
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: request.Response = await request(t.http)
        .get(`/api/v1/users?limit=3${cursor ? `&cursor=${cursor}` : ''}`)
        .auth(token, { type: 'bearer' })
        .expect(200);
      expect(page.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.body.items.map((u: { id: string }) => u.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.body.items.map((u: { id: string }) => u.id));
    const createdAt = all.body.items.map((u: { createdAt: string }) => u.createdAt);
    expect([...createdAt].sort().reverse()).toEqual(createdAt);

    expectProblem(
      await request(t.http).get('/api/v1/users?limit=501').auth(token, { type: 'bearer' }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await request(t.http).get('/api/v1/users?limit=0').auth(token, { type: 'bearer' }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await request(t.http).get('/api/v1/users?cursor=bm90LWEtY3Vyc29y').auth(token, { type: 'bearer' }),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('answers 404 for an unknown id and 400 for a malformed one', async () => {
    const adminToken = admin.accessToken;
    expectProblem(
      await request(t.http)
        .get('/api/v1/users/00000000-0000-4000-8000-000000000000')
        .auth(adminToken, { type: 'bearer' }),
      404,
      'NOT_FOUND',
    );
    expectProblem(
      await request(t.http).get('/api/v1/users/..%2F..%2Fetc%2Fpasswd').auth(adminToken, { type: 'bearer' }),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('lets only one of two admins demoting each other at once succeed', async () => {
    const second = await createUser(t.http, admin.accessToken, 'second-admin', 'admin');
    const results = await Promise.all([
      asAdmin(request(t.http).patch(`/api/v1/users/${second.id}`)).send({ role: 'user' }),
      request(t.http)
        .patch(`/api/v1/users/${adminId}`)
        .auth(second.accessToken, { type: 'bearer' })
        .send({ role: 'user' }),
    ]);
    // The loser gets 409 LAST_ADMIN, or 401 when the winner's demotion (which revokes the
    // demoted admin's tokens) committed before the loser's request was authenticated.
    const statuses = results.map((r) => r.status).sort();
    expect(statuses[0]).toBe(200);
    expect([401, 409]).toContain(statuses[1]);
    const [{ count }] = await t.app
      .get(DataSource)
      .query(`SELECT count(*)::int AS count FROM users WHERE role = 'admin' AND status = 'active'`);
    expect(count).toBe(1);
  });
});
