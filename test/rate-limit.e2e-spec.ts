import { AddressInfo } from 'node:net';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';
import { postFrom } from './support/post-from';

describe('throttling (e2e)', () => {
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    // The lock-out (per name and address) must not answer before the limits under test do.
    t = await startTestApp({ AUTH_RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_PER_MINUTE: '8', LOCKOUT_THRESHOLD: '100' });
    await t.app.listen(0, '127.0.0.1');
    port = (t.app.getHttpServer().address() as AddressInfo).port;
  });
  afterAll(() => t.close());

  it('limits auth routes per client IP, with Retry-After', async () => {
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 6; i++) {
      last = await postFrom(port, '127.0.0.3', '/api/v1/auth/login', {
        username: `spray-${i}`,
        password: 'whatever-password',
      });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    expect(last!.body.code).toBe('RATE_LIMITED');
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    expect(last!.headers['content-type']).toMatch(/application\/problem\+json/);
  });

  it('limits auth routes per username across IPs', async () => {
    for (let i = 0; i < 5; i++) {
      expect(
        (await postFrom(port, '127.0.0.4', '/api/v1/auth/login', { username: 'victim', password: 'guess-password' }))
          .status,
      ).toBe(401);
    }
    // A fresh IP, the same username: the username's own budget is spent.
    const fromElsewhere = await postFrom(port, '127.0.0.5', '/api/v1/auth/login', {
      username: 'VICTIM',
      password: 'guess-password',
    });
    expect(fromElsewhere.status).toBe(429);
    expect(Number(fromElsewhere.headers['retry-after'])).toBeGreaterThan(0);
    // That IP is not itself limited for another username.
    expect(
      (
        await postFrom(port, '127.0.0.5', '/api/v1/auth/login', {
          username: 'someone-else',
          password: 'guess-password',
        })
      ).status,
    ).toBe(401);
  });

  it('limits each user on /api routes, independently of other users', async () => {
    const admin = await login(t.http, ADMIN.username, ADMIN.password);
    const user = await createUser(t.http, admin.accessToken, 'busy-user');
    const statuses: number[] = [];
    let last!: request.Response;
    for (let i = 0; i < 9; i++) {
      last = await request(t.http).get('/api/v1/auth/me').auth(user.accessToken, { type: 'bearer' });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 429]);
    expectProblem(last, 429, 'RATE_LIMITED');
    expect(Number(last.headers['retry-after'])).toBeGreaterThan(0);
    await request(t.http).get('/api/v1/auth/me').auth(admin.accessToken, { type: 'bearer' }).expect(200);
    // Probes are never limited.
    for (let i = 0; i < 10; i++) await request(t.http).get('/health/live').expect(200);
  });
});

describe('account lock-out (e2e)', () => {
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    t = await startTestApp({ LOCKOUT_THRESHOLD: '3', LOCKOUT_MINUTES: '2' });
    await t.app.listen(0, '127.0.0.1');
    port = (t.app.getHttpServer().address() as AddressInfo).port;
  });
  afterAll(() => t.close());

  const loginFrom = (address: string, username: string, password: string) =>
    postFrom(port, address, '/api/v1/auth/login', { username, password });

  it('locks an account after repeated failures, refuses even the right password, and reopens after the cool-down', async () => {
    const admin = await login(t.http, ADMIN.username, ADMIN.password);
    const user = await createUser(t.http, admin.accessToken, 'forgetful');
    const attempt = (password: string) =>
      request(t.http).post('/api/v1/auth/login').send({ username: 'forgetful', password });

    expectProblem(await attempt('wrong-password-1'), 401, 'INVALID_CREDENTIALS');
    expectProblem(await attempt('wrong-password-2'), 401, 'INVALID_CREDENTIALS');
    const locked = await attempt('wrong-password-3');
    expectProblem(locked, 429, 'ACCOUNT_LOCKED');
    const retryAfter = Number(locked.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(100);
    expect(retryAfter).toBeLessThanOrEqual(120);

    const right = await attempt(user.password);
    expectProblem(right, 429, 'ACCOUNT_LOCKED');
    expect(Number(right.headers['retry-after'])).toBeGreaterThan(0);

    // The cool-down passes (moved into the past rather than waited for).
    await t.app
      .get(DataSource)
      .query(`UPDATE login_failures SET locked_until = now() - interval '1 second' WHERE username = 'forgetful'`);
    await attempt(user.password).expect(200);
  });

  it('security 11.13: failures from one address lock that address out, not the account: the right password from another address signs in', async () => {
    const attacker = '127.0.0.7';
    const user = await createUser(
      t.http,
      (await login(t.http, ADMIN.username, ADMIN.password)).accessToken,
      'targeted',
    );
    for (const [username, password] of [
      [ADMIN.username, ADMIN.password],
      ['targeted', user.password],
    ]) {
      const tries = [];
      for (let i = 0; i < 3; i++) tries.push((await loginFrom(attacker, username, `guess-${i}-password`)).status);
      expect({ username, tries }).toEqual({ username, tries: [401, 401, 429] });
      expect((await loginFrom(attacker, username, password)).body.code).toBe('ACCOUNT_LOCKED');

      const owner = await loginFrom('127.0.0.8', username, password);
      expect({ username, status: owner.status }).toEqual({ username, status: 200 });
      // The owner's sign-in does not unlock the attacker's address.
      expect((await loginFrom(attacker, username, password)).status).toBe(429);
    }
  });

  it('security 11.13: a name that belongs to no account fails, locks and answers exactly like one that does', async () => {
    const admin = await login(t.http, ADMIN.username, ADMIN.password);
    await createUser(t.http, admin.accessToken, 'existing-name');
    const answers: Record<string, Array<{ status: number; code?: string; detail?: string; retryAfter: boolean }>> = {
      'existing-name': [],
      'no-such-name': [],
    };
    const elapsed: Record<string, number[]> = { 'existing-name': [], 'no-such-name': [] };
    for (let i = 0; i < 4; i++) {
      // Interleaved, so load on the machine slows both alike.
      for (const username of ['existing-name', 'no-such-name']) {
        const started = process.hrtime.bigint();
        const res = await loginFrom('127.0.0.9', username, `wrong-${i}-password`);
        elapsed[username].push(Number(process.hrtime.bigint() - started) / 1e6);
        answers[username].push({
          status: res.status,
          code: res.body.code,
          detail: (res.body as { detail?: string }).detail?.replace(/\d+ s$/, 'N s'),
          retryAfter: 'retry-after' in res.headers,
        });
      }
    }
    expect(answers['existing-name'].map((a) => a.status)).toEqual([401, 401, 429, 429]);
    expect(answers['no-such-name']).toEqual(answers['existing-name']);
    // The failures that reach the password check (the first two) pay one argon2 verification either way.
    const checked = (username: string) => elapsed[username][0] + elapsed[username][1];
    const ratio = checked('no-such-name') / checked('existing-name');
    expect(ratio).toBeGreaterThan(1 / 3);
    expect(ratio).toBeLessThan(3);
  });

  it('security 11.13: an address starts counting again after its own success, or once its failures are LOCKOUT_MINUTES old', async () => {
    const user = await createUser(t.http, (await login(t.http, ADMIN.username, ADMIN.password)).accessToken, 'counted');
    const fail = async () => (await loginFrom('127.0.0.10', 'counted', 'not-the-password')).status;
    expect([await fail(), await fail()]).toEqual([401, 401]);
    expect((await loginFrom('127.0.0.10', 'counted', user.password)).status).toBe(200);
    expect([await fail(), await fail()]).toEqual([401, 401]);
    // Those two are now older than LOCKOUT_MINUTES (moved into the past rather than waited for).
    await t.app
      .get(DataSource)
      .query(`UPDATE login_failures SET last_failed_at = now() - interval '3 minutes' WHERE username = 'counted'`);
    expect([await fail(), await fail(), await fail()]).toEqual([401, 401, 429]);
  });

  it('an admin re-activating the account clears the lock', async () => {
    const admin = await login(t.http, ADMIN.username, ADMIN.password);
    const user = await createUser(t.http, admin.accessToken, 'locked-out');
    for (let i = 0; i < 3; i++)
      await request(t.http)
        .post('/api/v1/auth/login')
        .send({ username: 'locked-out', password: `nope-${i}-password` });
    expectProblem(
      await request(t.http).post('/api/v1/auth/login').send({ username: 'locked-out', password: user.password }),
      429,
      'ACCOUNT_LOCKED',
    );
    await request(t.http)
      .patch(`/api/v1/users/${user.id}`)
      .auth(admin.accessToken, { type: 'bearer' })
      .send({ status: 'active' })
      .expect(200);
    await login(t.http, 'locked-out', user.password);
  });
});
