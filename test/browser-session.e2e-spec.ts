import { Secret, TOTP } from 'otpauth';
import request from 'supertest';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

/** The browser's session transport (issue 18): the refresh token in an HttpOnly cookie, opted into by a header. */
describe('browser session cookie (e2e)', () => {
  let t: TestApp;
  let adminToken: string;
  let password: string;
  let username: string;

  beforeAll(async () => {
    t = await startTestApp();
    adminToken = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    username = 'cookie.user';
    password = (await createUser(t.http, adminToken, username)).password;
  });
  afterAll(() => t.close());

  const COOKIE = 'X-Limen-Session';
  const cookieOf = (res: request.Response): string | undefined =>
    ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('limen_refresh='));
  const pairOf = (setCookie: string): string => setCookie.split(';')[0];
  const browserLogin = () =>
    request(t.http).post('/api/v1/auth/login').set(COOKIE, 'cookie').send({ username, password }).expect(200);

  it('sign-in puts the refresh token in an HttpOnly, SameSite=Strict cookie on the auth path, not in the body', async () => {
    const res = await browserLogin();
    expect(res.body).toEqual({ accessToken: expect.any(String), tokenType: 'Bearer', expiresIn: 900 });
    const cookie = cookieOf(res)!;
    expect(cookie).toMatch(/^limen_refresh=[A-Za-z0-9_-]{20,};/);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).toMatch(/; Path=\/api\/v1\/auth(;|$)/);
    expect(cookie).toMatch(/; Max-Age=2592000/);
    // Plain HTTP here and no trusted proxy: a Secure cookie would never come back.
    expect(cookie).not.toMatch(/; Secure/);
  });

  it('is Secure when a trusted proxy says the request came over TLS', async () => {
    const proxied = await startTestApp({ TRUST_PROXY: 'loopback' });
    try {
      const admin = await request(proxied.http)
        .post('/api/v1/auth/login')
        .set(COOKIE, 'cookie')
        .set('X-Forwarded-Proto', 'https')
        .send(ADMIN)
        .expect(200);
      expect(cookieOf(admin)).toMatch(/; Secure/);
    } finally {
      await proxied.close();
    }
  });

  it('a reload gets a new access token from the cookie alone, and the cookie rotates', async () => {
    const first = pairOf(cookieOf(await browserLogin())!);
    const reload = await request(t.http).post('/api/v1/auth/refresh').set(COOKIE, 'cookie').set('Cookie', first);
    expect(reload.status).toBe(200);
    expect(reload.body).not.toHaveProperty('refreshToken');
    const second = pairOf(cookieOf(reload)!);
    expect(second).not.toBe(first);
    await request(t.http).get('/api/v1/auth/me').auth(reload.body.accessToken, { type: 'bearer' }).expect(200);
    // Without any cookie the browser is simply signed out.
    const none = await request(t.http).post('/api/v1/auth/refresh').set(COOKIE, 'cookie').send({});
    expectProblem(none, 401, 'INVALID_REFRESH_TOKEN');
  });

  it('refuses a cross-site POST: the cookie without the custom header does not count', async () => {
    const cookie = pairOf(cookieOf(await browserLogin())!);
    // What a form on another site can send: the cookie (if SameSite were not there), no custom header.
    const forged = await request(t.http)
      .post('/api/v1/auth/refresh')
      .set('Cookie', cookie)
      .type('form')
      .send('refreshToken=');
    expect(forged.status).toBeGreaterThanOrEqual(400);
    expect(forged.status).toBeLessThan(500);
    expect(cookieOf(forged)).toBeUndefined();
    const forgedJson = await request(t.http).post('/api/v1/auth/refresh').set('Cookie', cookie).send({});
    expectProblem(forgedJson, 400, 'VALIDATION_FAILED');
    const forgedLogout = await request(t.http).post('/api/v1/auth/logout').set('Cookie', cookie).send({});
    expect(forgedLogout.status).toBe(400);
    // The session survived both attempts.
    await request(t.http).post('/api/v1/auth/refresh').set(COOKIE, 'cookie').set('Cookie', cookie).expect(200);
  });

  it('logout clears the cookie and revokes the whole session, its access tokens too', async () => {
    const signedIn = await browserLogin();
    const first = pairOf(cookieOf(signedIn)!);
    const rotated = await request(t.http).post('/api/v1/auth/refresh').set(COOKIE, 'cookie').set('Cookie', first);
    const current = pairOf(cookieOf(rotated)!);
    const other = await login(t.http, username, password);
    const me = (token: string) => request(t.http).get('/api/v1/auth/me').auth(token, { type: 'bearer' });
    await me(signedIn.body.accessToken).expect(200);
    const out = await request(t.http).post('/api/v1/auth/logout').set(COOKIE, 'cookie').set('Cookie', current);
    expect(out.status).toBe(204);
    expect(cookieOf(out)).toMatch(/^limen_refresh=;.*Path=\/api\/v1\/auth.*Expires=Thu, 01 Jan 1970/);
    for (const token of [signedIn.body.accessToken, rotated.body.accessToken])
      expectProblem(await me(token), 401, 'UNAUTHENTICATED');
    await me(other.accessToken).expect(200);
    for (const cookie of [current, first]) {
      const after = await request(t.http).post('/api/v1/auth/refresh').set(COOKIE, 'cookie').set('Cookie', cookie);
      expect(after.status).toBe(401);
    }
    // Signing out again with nothing left is still fine.
    await request(t.http).post('/api/v1/auth/logout').set(COOKIE, 'cookie').expect(204);
  });

  it('a password change answers the fresh session in the cookie too', async () => {
    const signedIn = await browserLogin();
    const newPassword = 'cookie-user-new-password';
    const changed = await request(t.http)
      .post('/api/v1/auth/password')
      .set(COOKIE, 'cookie')
      .auth(signedIn.body.accessToken, { type: 'bearer' })
      .send({ currentPassword: password, newPassword })
      .expect(200);
    password = newPassword;
    expect(changed.body).not.toHaveProperty('refreshToken');
    const fresh = pairOf(cookieOf(changed)!);
    await request(t.http).post('/api/v1/auth/refresh').set(COOKIE, 'cookie').set('Cookie', fresh).expect(200);
    const old = pairOf(cookieOf(signedIn)!);
    expect((await request(t.http).post('/api/v1/auth/refresh').set(COOKIE, 'cookie').set('Cookie', old)).status).toBe(
      401,
    );
  });

  it('a sign-in completed with a second factor answers its refresh token in the cookie', async () => {
    const user = await createUser(t.http, adminToken, 'cookie.totp');
    const enrolled = await request(t.http)
      .post('/api/v1/auth/totp')
      .auth(user.accessToken, { type: 'bearer' })
      .expect(200);
    const code = (stepsAhead: number) =>
      TOTP.generate({ secret: Secret.fromBase32(enrolled.body.secret), timestamp: Date.now() + stepsAhead * 30_000 });
    await request(t.http)
      .post('/api/v1/auth/totp/confirm')
      .auth(user.accessToken, { type: 'bearer' })
      .send({ code: code(0) })
      .expect(200);
    const challenged = await request(t.http)
      .post('/api/v1/auth/login')
      .set(COOKIE, 'cookie')
      .send({ username: 'cookie.totp', password: user.password });
    expectProblem(challenged, 401, 'SECOND_FACTOR_REQUIRED');
    const done = await request(t.http)
      .post('/api/v1/auth/login/second-factor')
      .set(COOKIE, 'cookie')
      .send({ challenge: challenged.body.challenge, code: code(1) })
      .expect(200);
    expect(done.body).not.toHaveProperty('refreshToken');
    const cookie = pairOf(cookieOf(done)!);
    await request(t.http).post('/api/v1/auth/refresh').set(COOKIE, 'cookie').set('Cookie', cookie).expect(200);
  });

  it('API clients keep the JSON-body flow', async () => {
    const pair = await login(t.http, username, password);
    expect(pair.refreshToken).toEqual(expect.any(String));
    const res = await request(t.http)
      .post('/api/v1/auth/refresh')
      .send({ refreshToken: pair.refreshToken })
      .expect(200);
    expect(res.body.refreshToken).toEqual(expect.any(String));
    expect(cookieOf(res)).toBeUndefined();
  });
});
