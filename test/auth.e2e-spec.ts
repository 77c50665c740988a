import { createHmac } from 'node:crypto';
import request from 'supertest';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

/** Short, so that the test of what happens after the grace window does not wait long. */
const REUSE_GRACE_SECONDS = 3;

describe('auth (e2e)', () => {
  let t: TestApp;
  let admin: { accessToken: string; refreshToken: string };

  beforeAll(async () => {
    t = await startTestApp({ REGISTRATION: 'approval', REFRESH_REUSE_GRACE_SECONDS: String(REUSE_GRACE_SECONDS) });
    admin = await login(t.http, ADMIN.username, ADMIN.password);
  });
  afterAll(() => t.close());

  const me = (token: string) => request(t.http).get('/api/v1/auth/me').auth(token, { type: 'bearer' });

  it('register → pending → approve → login', async () => {
    const reg = await request(t.http)
      .post('/api/v1/auth/register')
      .send({ username: 'Alice.Pending', password: 'alice-password-1' })
      .expect(201);
    expect(reg.body).toEqual({ username: 'alice.pending', status: 'pending' });
    const users = await request(t.http)
      .get('/api/v1/users?limit=500')
      .auth(admin.accessToken, { type: 'bearer' })
      .expect(200);
    const id = users.body.items.find((u: { username: string }) => u.username === 'alice.pending').id as string;

    const pending = await request(t.http)
      .post('/api/v1/auth/login')
      .send({ username: 'alice.pending', password: 'alice-password-1' });
    expectProblem(pending, 403, 'ACCOUNT_PENDING');

    const approved = await request(t.http)
      .post(`/api/v1/users/${id}/approve`)
      .auth(admin.accessToken, { type: 'bearer' })
      .expect(200);
    expect(approved.body.status).toBe('active');

    const tokens = await request(t.http)
      .post('/api/v1/auth/login')
      .send({ username: 'ALICE.PENDING', password: 'alice-password-1' })
      .expect(200);
    expect(tokens.body).toEqual({
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      tokenType: 'Bearer',
      expiresIn: 900,
    });
    const claims = JSON.parse(Buffer.from(tokens.body.accessToken.split('.')[1], 'base64url').toString());
    expect(claims).toEqual(expect.objectContaining({ sub: id, role: 'user', jti: expect.any(String) }));
    expect(claims.exp - claims.iat).toBe(900);
    const profile = await me(tokens.body.accessToken).expect(200);
    expect(profile.body).toEqual(
      expect.objectContaining({ id, username: 'alice.pending', role: 'user', status: 'active' }),
    );
    expect(profile.body).not.toHaveProperty('passwordHash');
  });

  it('security 11.13: under REGISTRATION=approval a taken name (any case, even the admin) answers exactly like a free one, and changes nothing', async () => {
    const register = (username: string, password: string) =>
      request(t.http).post('/api/v1/auth/register').send({ username, password });
    const free = await register('dup-user', 'dup-password-12');
    expect({ status: free.status, body: free.body }).toEqual({
      status: 201,
      body: { username: 'dup-user', status: 'pending' },
    });
    const taken = await register('DUP-USER', 'other-password-34');
    expect({ status: taken.status, body: taken.body }).toEqual({ status: free.status, body: free.body });
    const admins = await register(ADMIN.username.toUpperCase(), 'other-password-34');
    expect({ status: admins.status, body: admins.body }).toEqual({
      status: 201,
      body: { username: ADMIN.username, status: 'pending' },
    });

    // The existing accounts are untouched: same passwords, one account per name.
    expectProblem(
      await request(t.http).post('/api/v1/auth/login').send({ username: 'dup-user', password: 'dup-password-12' }),
      403,
      'ACCOUNT_PENDING',
    );
    expectProblem(
      await request(t.http).post('/api/v1/auth/login').send({ username: 'dup-user', password: 'other-password-34' }),
      401,
      'INVALID_CREDENTIALS',
    );
    await login(t.http, ADMIN.username, ADMIN.password);
    const names = (
      await request(t.http).get('/api/v1/users?limit=500').auth(admin.accessToken, { type: 'bearer' }).expect(200)
    ).body.items.map((u: { username: string }) => u.username);
    expect(names.filter((n: string) => n === 'dup-user' || n === ADMIN.username)).toEqual(
      expect.arrayContaining(['dup-user', ADMIN.username]),
    );
    expect(names.filter((n: string) => n === 'dup-user' || n === ADMIN.username)).toHaveLength(2);
    // Admins can still see the attempts: the audit trail tells them apart.
    await new Promise((resolve) => setTimeout(resolve, 150));
    const audited = await request(t.http)
      .get('/api/v1/audit?limit=500&action=auth.register-name-taken')
      .auth(admin.accessToken, { type: 'bearer' })
      .expect(200);
    expect(audited.body.items.map((e: { actorUsername: string }) => e.actorUsername).sort()).toEqual(
      ['dup-user', ADMIN.username].sort(),
    );
  });

  it('refuses a short password at registration', async () => {
    const short = await request(t.http).post('/api/v1/auth/register').send({ username: 'shorty', password: 'short' });
    expectProblem(short, 400, 'VALIDATION_FAILED');
    expect(short.body.errors).toEqual([
      { field: 'password', messages: expect.arrayContaining([expect.stringMatching(/12/)]) },
    ]);
  });

  it('answers a wrong password and an unknown user alike', async () => {
    const wrong = await request(t.http)
      .post('/api/v1/auth/login')
      .send({ username: ADMIN.username, password: 'not-the-password' });
    expectProblem(wrong, 401, 'INVALID_CREDENTIALS');
    const unknown = await request(t.http)
      .post('/api/v1/auth/login')
      .send({ username: 'nobody-here', password: 'not-the-password' });
    expectProblem(unknown, 401, 'INVALID_CREDENTIALS');
    expect(unknown.body.detail).toBe(wrong.body.detail);
  });

  it('rotates refresh tokens and revokes the family when a spent one is reused', async () => {
    const user = await createUser(t.http, admin.accessToken, 'rotator');
    const first = user.refreshToken;
    const second = await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: first }).expect(200);
    expect(second.body.refreshToken).not.toBe(first);
    await me(second.body.accessToken).expect(200);
    const third = await request(t.http)
      .post('/api/v1/auth/refresh')
      .send({ refreshToken: second.body.refreshToken })
      .expect(200);

    // An attacker replays the first (spent) token: 401, and the live one dies with it.
    expectProblem(
      await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: first }),
      401,
      'REFRESH_TOKEN_REUSED',
    );
    expectProblem(
      await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: third.body.refreshToken }),
      401,
      'INVALID_REFRESH_TOKEN',
    );

    // Another login is another family and is unaffected.
    const other = await login(t.http, 'rotator', user.password);
    await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: other.refreshToken }).expect(200);
  });

  it('security 11.16: two concurrent refreshes of one token (two tabs) both get the same new pair, and it works', async () => {
    const user = await createUser(t.http, admin.accessToken, 'two-tabs');
    const refresh = () => request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: user.refreshToken });
    const [tabA, tabB] = await Promise.all([refresh(), refresh()]);
    expect([tabA.status, tabB.status]).toEqual([200, 200]);
    expect(tabB.body).toEqual(tabA.body);
    expect(tabA.body.refreshToken).not.toBe(user.refreshToken);
    // A tab a moment late gets it too.
    expect((await refresh().expect(200)).body).toEqual(tabA.body);

    await me(tabA.body.accessToken).expect(200);
    const next = await request(t.http)
      .post('/api/v1/auth/refresh')
      .send({ refreshToken: tabA.body.refreshToken })
      .expect(200);
    await me(next.body.accessToken).expect(200);
    // Its successor is spent now, so the first token again is reuse, even within the window.
    expectProblem(await refresh(), 401, 'REFRESH_TOKEN_REUSED');
    expectProblem(
      await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: next.body.refreshToken }),
      401,
      'INVALID_REFRESH_TOKEN',
    );
  });

  it('security 11.16: a rotated token presented after the grace window revokes the whole session', async () => {
    const user = await createUser(t.http, admin.accessToken, 'late-replay');
    const rotated = await request(t.http)
      .post('/api/v1/auth/refresh')
      .send({ refreshToken: user.refreshToken })
      .expect(200);
    await new Promise((resolve) => setTimeout(resolve, REUSE_GRACE_SECONDS * 1000 + 500));
    expectProblem(
      await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: user.refreshToken }),
      401,
      'REFRESH_TOKEN_REUSED',
    );
    expectProblem(
      await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: rotated.body.refreshToken }),
      401,
      'INVALID_REFRESH_TOKEN',
    );
  });

  it('rejects a made-up refresh token', async () => {
    expectProblem(
      await request(t.http)
        .post('/api/v1/auth/refresh')
        .send({ refreshToken: 'A'.repeat(43) }),
      401,
      'INVALID_REFRESH_TOKEN',
    );
  });

  it('logout revokes the refresh token', async () => {
    const user = await createUser(t.http, admin.accessToken, 'leaver');
    await request(t.http).post('/api/v1/auth/logout').send({ refreshToken: user.refreshToken }).expect(204);
    expectProblem(
      await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: user.refreshToken }),
      401,
      'INVALID_REFRESH_TOKEN',
    );
  });

  it("logout ends its session: the session's access tokens are refused at once, other sessions' work on", async () => {
    const user = await createUser(t.http, admin.accessToken, 'signs-out');
    const other = await login(t.http, 'signs-out', user.password);
    await me(user.accessToken).expect(200);
    await request(t.http).post('/api/v1/auth/logout').send({ refreshToken: user.refreshToken }).expect(204);
    expectProblem(await me(user.accessToken), 401, 'UNAUTHENTICATED');
    await me(other.accessToken).expect(200);
    await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: other.refreshToken }).expect(200);
  });

  it("a detected refresh-token reuse ends the session's access tokens too", async () => {
    const user = await createUser(t.http, admin.accessToken, 'reused-session');
    const rotated = await request(t.http)
      .post('/api/v1/auth/refresh')
      .send({ refreshToken: user.refreshToken })
      .expect(200);
    await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: rotated.body.refreshToken }).expect(200);
    await me(rotated.body.accessToken).expect(200);
    expectProblem(
      await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: user.refreshToken }),
      401,
      'REFRESH_TOKEN_REUSED',
    );
    expectProblem(await me(rotated.body.accessToken), 401, 'UNAUTHENTICATED');
    expectProblem(await me(user.accessToken), 401, 'UNAUTHENTICATED');
  });

  it('logout-all revokes every access and refresh token of the caller', async () => {
    const user = await createUser(t.http, admin.accessToken, 'everywhere');
    const second = await login(t.http, 'everywhere', user.password);
    await request(t.http).post('/api/v1/auth/logout-all').auth(user.accessToken, { type: 'bearer' }).expect(204);
    expectProblem(await me(second.accessToken), 401, 'UNAUTHENTICATED');
    expectProblem(
      await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: second.refreshToken }),
      401,
      'INVALID_REFRESH_TOKEN',
    );
  });

  it("rejects a disabled user's still-valid token on the next request, and their login", async () => {
    const user = await createUser(t.http, admin.accessToken, 'soon-disabled');
    await me(user.accessToken).expect(200);
    await request(t.http)
      .patch(`/api/v1/users/${user.id}`)
      .auth(admin.accessToken, { type: 'bearer' })
      .send({ status: 'disabled' })
      .expect(200);
    expectProblem(await me(user.accessToken), 401, 'UNAUTHENTICATED');
    expectProblem(
      await request(t.http).post('/api/v1/auth/refresh').send({ refreshToken: user.refreshToken }),
      401,
      'INVALID_REFRESH_TOKEN',
    );
    expectProblem(
      await request(t.http).post('/api/v1/auth/login').send({ username: 'soon-disabled', password: user.password }),
      403,
      'ACCOUNT_DISABLED',
    );
  });

  it('applies a role change and a deletion on the next request', async () => {
    const user = await createUser(t.http, admin.accessToken, 'promoted', 'admin');
    await request(t.http).get('/api/v1/users').auth(user.accessToken, { type: 'bearer' }).expect(200);
    await request(t.http)
      .patch(`/api/v1/users/${user.id}`)
      .auth(admin.accessToken, { type: 'bearer' })
      .send({ role: 'user' })
      .expect(200);
    expectProblem(
      await request(t.http).get('/api/v1/users').auth(user.accessToken, { type: 'bearer' }),
      401,
      'UNAUTHENTICATED',
    );
    const again = await login(t.http, 'promoted', user.password);
    expectProblem(
      await request(t.http).get('/api/v1/users').auth(again.accessToken, { type: 'bearer' }),
      403,
      'FORBIDDEN',
    );

    await request(t.http).delete(`/api/v1/users/${user.id}`).auth(admin.accessToken, { type: 'bearer' }).expect(204);
    expectProblem(await me(again.accessToken), 401, 'UNAUTHENTICATED');
  });

  it('a password change revokes outstanding tokens', async () => {
    const user = await createUser(t.http, admin.accessToken, 'rekeyed');
    await request(t.http)
      .patch(`/api/v1/users/${user.id}`)
      .auth(admin.accessToken, { type: 'bearer' })
      .send({ password: 'a-brand-new-password' })
      .expect(200);
    expectProblem(await me(user.accessToken), 401, 'UNAUTHENTICATED');
    expectProblem(
      await request(t.http).post('/api/v1/auth/login').send({ username: 'rekeyed', password: user.password }),
      401,
      'INVALID_CREDENTIALS',
    );
    await login(t.http, 'rekeyed', 'a-brand-new-password');
  });

  describe('forged tokens', () => {
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

    it('rejects alg:none', async () => {
      const [, payload] = admin.accessToken.split('.');
      const none = `${encode({ alg: 'none', typ: 'JWT' })}.${payload}.`;
      expectProblem(await me(none), 401, 'UNAUTHENTICATED');
    });

    it('rejects a tampered payload and a token signed with another key', async () => {
      const [header, payload, signature] = admin.accessToken.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const tampered = `${header}.${encode({ ...claims, role: 'admin', sub: '00000000-0000-4000-8000-000000000000' })}.${signature}`;
      expectProblem(await me(tampered), 401, 'UNAUTHENTICATED');
      const body = `${header}.${payload}`;
      const forged = `${body}.${createHmac('sha256', 'some-other-secret-of-32-characters!').update(body).digest('base64url')}`;
      expectProblem(await me(forged), 401, 'UNAUTHENTICATED');
    });

    it('rejects an HS256 token signed with the right key but an expired exp', async () => {
      const secret = require('node:fs').readFileSync(`${t.dataDir}/jwt-secret`, 'utf8').trim();
      const claims = JSON.parse(Buffer.from(admin.accessToken.split('.')[1], 'base64url').toString());
      const header = encode({ alg: 'HS256', typ: 'JWT' });
      const payload = encode({ ...claims, iat: claims.iat - 3600, exp: claims.iat - 1800 });
      const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
      // The same key produces an accepted token when the times are right, so the refusal is about exp.
      const freshPayload = encode(claims);
      const freshSignature = createHmac('sha256', secret).update(`${header}.${freshPayload}`).digest('base64url');
      await me(`${header}.${freshPayload}.${freshSignature}`).expect(200);
      expectProblem(await me(`${header}.${payload}.${signature}`), 401, 'UNAUTHENTICATED');
    });

    it('accepts a token without a session claim (issued before tokens had one), and refuses a malformed one', async () => {
      const secret = require('node:fs').readFileSync(`${t.dataDir}/jwt-secret`, 'utf8').trim();
      const claims = JSON.parse(Buffer.from(admin.accessToken.split('.')[1], 'base64url').toString());
      expect(claims.sid).toEqual(expect.stringMatching(/^[0-9a-f-]{36}$/));
      const header = encode({ alg: 'HS256', typ: 'JWT' });
      const signed = (payload: string) =>
        `${header}.${payload}.${createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')}`;
      const { sid: _sid, ...withoutSid } = claims;
      await me(signed(encode(withoutSid))).expect(200);
      expectProblem(await me(signed(encode({ ...claims, sid: 'not-a-session' }))), 401, 'UNAUTHENTICATED');
      expectProblem(await me(signed(encode({ ...claims, sid: 42 }))), 401, 'UNAUTHENTICATED');
    });

    it('rejects a missing or malformed Authorization header', async () => {
      expectProblem(await request(t.http).get('/api/v1/auth/me'), 401, 'UNAUTHENTICATED');
      expectProblem(
        await request(t.http).get('/api/v1/auth/me').set('Authorization', 'Basic Zm9vOmJhcg=='),
        401,
        'UNAUTHENTICATED',
      );
      expectProblem(await me('not.a.jwt'), 401, 'UNAUTHENTICATED');
    });
  });
});
