import { AddressInfo } from 'node:net';
import request from 'supertest';
import { ConsoleSessions } from '../apps/api/src/console/console-sessions';
import { until } from './support/api-process';
import { ADMIN, createUser, expectProblem, login, REAL_POSTGRES, startTestApp, TestApp } from './support/test-app';
import { postFrom } from './support/post-from';

jest.setTimeout(120_000);

/**
 * Two replicas (two Nest apps, each with its own pools and memory) on one real PostgreSQL, with
 * the default LIMITS_STORE (postgres): each limit holds in total, whichever replica a request
 * reaches. Counted per replica, each of these would allow twice the limit.
 */
describe('limits shared by two replicas (e2e)', () => {
  const env = {
    RATE_LIMIT_PER_MINUTE: '20',
    AUTH_RATE_LIMIT_PER_MINUTE: '5',
    LOCKOUT_THRESHOLD: '1000',
    CONSOLE_MAX_SESSIONS_PER_USER: '2',
    SSE_MAX_STREAMS_PER_USER: '1',
  };
  let a: TestApp;
  let b: TestApp;
  let ports: number[];
  let bases: string[];

  beforeAll(async () => {
    a = await startTestApp(env, undefined, REAL_POSTGRES);
    b = await startTestApp(env, a.data);
    for (const t of [a, b]) await t.app.listen(0, '127.0.0.1');
    ports = [a, b].map((t) => (t.app.getHttpServer().address() as AddressInfo).port);
    bases = ports.map((p) => `http://127.0.0.1:${p}`);
  });
  afterAll(async () => {
    await a?.close({ keepData: true }).catch(() => undefined);
    await b?.close();
  });

  it("holds a user's RATE_LIMIT_PER_MINUTE in total across the replicas", async () => {
    const admin = await login(a.http, ADMIN.username, ADMIN.password);
    const user = await createUser(b.http, admin.accessToken, 'two-replica-user');
    const allowed = [0, 0];
    for (let i = 0; i < 40; i++) {
      const res = await request([a, b][i % 2].http)
        .get('/api/v1/auth/me')
        .auth(user.accessToken, { type: 'bearer' });
      if (res.status === 200) allowed[i % 2]++;
      else expectProblem(res, 429, 'RATE_LIMITED');
    }
    expect(allowed[0] + allowed[1]).toBe(20);
    expect(allowed[0]).toBeGreaterThan(0);
    expect(allowed[1]).toBeGreaterThan(0);
    // Another user has a budget of their own.
    await request(b.http).get('/api/v1/auth/me').auth(admin.accessToken, { type: 'bearer' }).expect(200);
  });

  it('holds the per-IP and per-username limits of the sign-in routes across the replicas', async () => {
    const fromIp = [];
    for (let i = 0; i < 8; i++)
      fromIp.push(
        (
          await postFrom(ports[i % 2], '127.0.0.21', '/api/v1/auth/login', {
            username: `spray-${i}`,
            password: 'x-password',
          })
        ).status,
      );
    expect(fromIp).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);

    const forName = [];
    for (let i = 0; i < 8; i++)
      forName.push(
        (
          await postFrom(ports[i % 2], `127.0.0.${30 + i}`, '/api/v1/auth/login', {
            username: 'victim',
            password: 'x-password',
          })
        ).status,
      );
    expect(forName).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
  });

  it('holds CONSOLE_MAX_SESSIONS_PER_USER across the replicas', async () => {
    const userId = (
      await request(a.http)
        .get('/api/v1/auth/me')
        .auth((await login(b.http, ADMIN.username, ADMIN.password)).accessToken, { type: 'bearer' })
    ).body.id;
    const [onA, onB] = [a, b].map((t) => t.app.get(ConsoleSessions));
    const first = await onA.acquire(userId);
    const second = await onB.acquire(userId);
    expect(first).not.toBeNull();
    expect(second).not.toBeNull();
    expect(await onA.acquire(userId)).toBeNull();
    expect(await onB.hasRoom(userId)).toBe(false);
    first!();
    const third = await until('the released slot to free', () => onB.acquire(userId), 5_000);
    third();
    second!();
  });

  it('holds SSE_MAX_STREAMS_PER_USER across the replicas', async () => {
    const { accessToken } = await login(a.http, ADMIN.username, ADMIN.password);
    const open = (base: string, signal?: AbortSignal) =>
      fetch(`${base}/api/v1/events`, { headers: { authorization: `Bearer ${accessToken}` }, signal });
    const held = new AbortController();
    const first = await open(bases[0], held.signal);
    expect(first.status).toBe(200);
    const refused = await open(bases[1]);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { code: string }).code).toBe('TOO_MANY_STREAMS');
    held.abort();
    const again = new AbortController();
    const reopened = await until(
      'the closed stream to free its slot',
      async () => {
        const res = await open(bases[1], again.signal);
        if (res.status === 200) return res;
        await res.body?.cancel();
        return undefined;
      },
      10_000,
    );
    expect(reopened.status).toBe(200);
    again.abort();
  });
});
