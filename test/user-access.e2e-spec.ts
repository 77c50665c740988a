import request from 'supertest';
import { DataSource } from 'typeorm';
import { SESSION_LISTENER_NAME, SessionRevocations } from '../apps/api/src/auth/session-revocations';
import { LISTENER_NAME, UserAccessCache } from '../apps/api/src/users/user-access-cache';
import { ADMIN, createUser, expectProblem, login, REAL_POSTGRES, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(120_000);

/**
 * The JWT guard reads a token's user through UserAccessCache and its session through
 * SessionRevocations (both per replica). A write to the user, or a session's end, on one replica
 * must reach the guard of every replica: at once on the replica that wrote (covered by
 * auth.e2e-spec.ts and self-service.e2e-spec.ts on a single app), and by NOTIFY on the others,
 * whose delay is measured here.
 * Two apps on one real PostgreSQL database, as in replicas.e2e-spec.ts.
 */
describe('revocation across replicas (e2e)', () => {
  let a: TestApp;
  let b: TestApp;
  let admin: string;

  const me = (t: TestApp, token: string) => request(t.http).get('/api/v1/auth/me').auth(token, { type: 'bearer' });

  /** Polls replica `t` until it refuses `token` (at most `withinMs`); returns how long that took. */
  async function refusedWithin(t: TestApp, token: string, since: number, withinMs: number): Promise<number> {
    for (;;) {
      const res = await me(t, token);
      if (res.status === 401) {
        expectProblem(res, 401, 'UNAUTHENTICATED');
        return Date.now() - since;
      }
      expect(res.status).toBe(200);
      if (Date.now() - since > withinMs)
        throw new Error(`replica still accepts the token ${withinMs} ms after the change`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  beforeAll(async () => {
    a = await startTestApp({}, undefined, REAL_POSTGRES);
    b = await startTestApp({}, a.data);
    admin = (await login(a.http, ADMIN.username, ADMIN.password)).accessToken;
  });
  afterAll(async () => {
    await a.close({ keepData: true }).catch(() => undefined);
    await b.close();
  });

  it('refuses a user disabled on replica A on replica B too, within the NOTIFY delay, and for good', async () => {
    const user = await createUser(a.http, admin, 'disabled-elsewhere');
    await me(b, user.accessToken).expect(200); // now cached on B
    await me(b, user.accessToken).expect(200);
    await request(a.http)
      .patch(`/api/v1/users/${user.id}`)
      .auth(admin, { type: 'bearer' })
      .send({ status: 'disabled' })
      .expect(200);
    const changed = Date.now();
    expectProblem(await me(a, user.accessToken), 401, 'UNAUTHENTICATED'); // the writing replica: the very next request
    const ms = await refusedWithin(b, user.accessToken, changed, 2_000);
    console.log(`replica B refused the disabled user's token ${ms} ms after replica A answered the change`);
    for (let i = 0; i < 5; i++) expectProblem(await me(b, user.accessToken), 401, 'UNAUTHENTICATED');
  });

  it('applies a role change, a logout-all and a deletion made on one replica on the other', async () => {
    const user = await createUser(a.http, admin, 'demoted-elsewhere', 'admin');
    await request(b.http).get('/api/v1/users').auth(user.accessToken, { type: 'bearer' }).expect(200);
    await request(a.http)
      .patch(`/api/v1/users/${user.id}`)
      .auth(admin, { type: 'bearer' })
      .send({ role: 'user' })
      .expect(200);
    await refusedWithin(b, user.accessToken, Date.now(), 2_000);
    const again = await login(b.http, 'demoted-elsewhere', user.password);
    expectProblem(
      await request(b.http).get('/api/v1/users').auth(again.accessToken, { type: 'bearer' }),
      403,
      'FORBIDDEN',
    );

    await me(a, again.accessToken).expect(200); // cached on A
    await request(b.http).post('/api/v1/auth/logout-all').auth(again.accessToken, { type: 'bearer' }).expect(204);
    await refusedWithin(a, again.accessToken, Date.now(), 2_000);

    const third = await login(a.http, 'demoted-elsewhere', user.password);
    await me(b, third.accessToken).expect(200); // cached on B
    await request(a.http).delete(`/api/v1/users/${user.id}`).auth(admin, { type: 'bearer' }).expect(204);
    await refusedWithin(b, third.accessToken, Date.now(), 2_000);
  });

  /** The id of the session `token` belongs to. */
  async function sessionOf(t: TestApp, token: string): Promise<string> {
    const listed = (await request(t.http).get('/api/v1/auth/sessions').auth(token, { type: 'bearer' }).expect(200))
      .body as Array<{ id: string; current: boolean }>;
    return listed.find((s) => s.current)!.id;
  }

  it('refuses the access tokens of a session revoked or signed out on one replica on the other, within the NOTIFY delay', async () => {
    const user = await createUser(a.http, admin, 'stolen-elsewhere');
    const stolen = await login(a.http, 'stolen-elsewhere', user.password);
    await me(b, stolen.accessToken).expect(200);
    await request(a.http)
      .delete(`/api/v1/auth/sessions/${await sessionOf(a, stolen.accessToken)}`)
      .auth(user.accessToken, { type: 'bearer' })
      .expect(204);
    const revoked = Date.now();
    expectProblem(await me(a, stolen.accessToken), 401, 'UNAUTHENTICATED');
    const ms = await refusedWithin(b, stolen.accessToken, revoked, 2_000);
    console.log(`replica B refused a session revoked on replica A ${ms} ms after A answered the revocation`);
    // The user's other session is untouched, on both.
    await me(a, user.accessToken).expect(200);
    await me(b, user.accessToken).expect(200);

    // Signing out on B ends the session on A too.
    await me(a, user.accessToken).expect(200);
    await request(b.http).post('/api/v1/auth/logout').send({ refreshToken: user.refreshToken }).expect(204);
    expectProblem(await me(b, user.accessToken), 401, 'UNAUTHENTICATED');
    await refusedWithin(a, user.accessToken, Date.now(), 2_000);
  });

  it('checks sessions in the database while its revocation listener is down, and from memory once it is back', async () => {
    const user = await createUser(a.http, admin, 'revoked-unheard');
    const first = await login(a.http, 'revoked-unheard', user.password);
    const second = await login(a.http, 'revoked-unheard', user.password);
    await me(b, first.accessToken).expect(200);
    const revocations = b.app.get(SessionRevocations) as unknown as { complete: boolean };
    expect(revocations.complete).toBe(true);
    const db = b.app.get(DataSource);
    // Cut both replicas' revocation listeners: B cannot hear what A revokes now.
    const [{ count }] = await db.query(
      `SELECT count(pg_terminate_backend(pid))::int AS count FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
      [SESSION_LISTENER_NAME],
    );
    expect(count).toBeGreaterThanOrEqual(1);
    for (const deadline = Date.now() + 5_000; revocations.complete && Date.now() < deadline;)
      await new Promise((r) => setTimeout(r, 10));
    expect(revocations.complete).toBe(false);
    await request(a.http)
      .delete(`/api/v1/auth/sessions/${await sessionOf(a, first.accessToken)}`)
      .auth(user.accessToken, { type: 'bearer' })
      .expect(204);
    // No notification reaches B, and its listener reconnects only after a second: B asks the database.
    expectProblem(await me(b, first.accessToken), 401, 'UNAUTHENTICATED');
    await me(b, second.accessToken).expect(200);
    const deadline = Date.now() + 10_000;
    while (!revocations.complete && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(revocations.complete).toBe(true);
    expectProblem(await me(b, first.accessToken), 401, 'UNAUTHENTICATED');
    await request(a.http)
      .delete(`/api/v1/auth/sessions/${await sessionOf(a, second.accessToken)}`)
      .auth(user.accessToken, { type: 'bearer' })
      .expect(204);
    await refusedWithin(b, second.accessToken, Date.now(), 2_000);
  });

  it('trusts no cached entry while its LISTEN connection is down, and caches again once it is back', async () => {
    const user = await createUser(a.http, admin, 'changed-by-hand');
    await me(b, user.accessToken).expect(200); // cached on B
    const db = b.app.get(DataSource);
    // Cut every LISTEN connection on this database (both replicas'): the notifications they would carry are lost.
    const [{ count }] = await db.query(
      `SELECT count(pg_terminate_backend(pid))::int AS count FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
      [LISTENER_NAME],
    );
    expect(count).toBeGreaterThanOrEqual(1);
    const cache = b.app.get(UserAccessCache) as unknown as { listening: boolean };
    for (const deadline = Date.now() + 5_000; cache.listening && Date.now() < deadline;)
      await new Promise((r) => setTimeout(r, 10));
    expect(cache.listening).toBe(false);
    // A change that no replica is told about (by hand, in SQL): B must not serve its cached copy.
    await db.query(`UPDATE users SET status = 'disabled' WHERE id = $1`, [user.id]);
    expectProblem(await me(b, user.accessToken), 401, 'UNAUTHENTICATED');
    await db.query(`UPDATE users SET status = 'active' WHERE id = $1`, [user.id]);
    await me(b, user.accessToken).expect(200);
    // The listener comes back within about a second; from then on B caches again, and a write through the api still reaches it.
    const deadline = Date.now() + 10_000;
    while (!cache.listening && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(cache.listening).toBe(true);
    await me(b, user.accessToken).expect(200);
    await request(a.http)
      .patch(`/api/v1/users/${user.id}`)
      .auth(admin, { type: 'bearer' })
      .send({ status: 'disabled' })
      .expect(200);
    await refusedWithin(b, user.accessToken, Date.now(), 2_000);
  });
});
