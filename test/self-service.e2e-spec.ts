import request from 'supertest';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

const LOCKOUT_THRESHOLD = 5;

describe('self-service: password and sessions (e2e)', () => {
  let t: TestApp;
  let admin: { accessToken: string };

  beforeAll(async () => {
    t = await startTestApp({ LOCKOUT_THRESHOLD: String(LOCKOUT_THRESHOLD) });
    admin = await login(t.http, ADMIN.username, ADMIN.password);
  });
  afterAll(() => t.close());

  const api = () => request(t.http);
  const me = (token: string) => api().get('/api/v1/auth/me').auth(token, { type: 'bearer' });
  const refresh = (refreshToken: string) => api().post('/api/v1/auth/refresh').send({ refreshToken });
  const sessions = (token: string) => api().get('/api/v1/auth/sessions').auth(token, { type: 'bearer' });
  const changePassword = (token: string, currentPassword: unknown, newPassword: unknown) =>
    api().post('/api/v1/auth/password').auth(token, { type: 'bearer' }).send({ currentPassword, newPassword });
  const signIn = (username: string, password: string, userAgent = 'e2e-agent') =>
    api().post('/api/v1/auth/login').set('User-Agent', userAgent).send({ username, password });

  it('a new password revokes every other session and every older access token; the old password fails at once', async () => {
    const user = await createUser(t.http, admin.accessToken, 'pw-changer');
    const other = (await signIn('pw-changer', user.password, 'other-device').expect(200)).body;
    const newPassword = 'a brand new passphrase 42';

    const changed = await changePassword(user.accessToken, user.password, newPassword).expect(200);
    expect(changed.body).toEqual({
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      tokenType: 'Bearer',
      expiresIn: 900,
    });

    // Every access token issued before is refused on its next request, the caller's own too.
    expectProblem(await me(user.accessToken), 401, 'UNAUTHENTICATED');
    expectProblem(await me(other.accessToken), 401, 'UNAUTHENTICATED');
    // Every other refresh-token family is revoked.
    expectProblem(await refresh(user.refreshToken), 401, 'INVALID_REFRESH_TOKEN');
    expectProblem(await refresh(other.refreshToken), 401, 'INVALID_REFRESH_TOKEN');
    // The old password stops working at once; the new one works.
    expectProblem(await signIn('pw-changer', user.password), 401, 'INVALID_CREDENTIALS');
    await signIn('pw-changer', newPassword).expect(200);
    // The fresh session works and rotates.
    await me(changed.body.accessToken).expect(200);
    await refresh(changed.body.refreshToken).expect(200);
  });

  it('a wrong current password is 401 INVALID_CREDENTIALS, changes nothing, and counts in the login lock-out', async () => {
    const user = await createUser(t.http, admin.accessToken, 'pw-guesser');
    for (let i = 1; i < LOCKOUT_THRESHOLD; i++)
      expectProblem(
        await changePassword(user.accessToken, 'not my password', 'a brand new passphrase 42'),
        401,
        'INVALID_CREDENTIALS',
      );
    const locking = await changePassword(user.accessToken, 'not my password', 'a brand new passphrase 42');
    expectProblem(locking, 429, 'ACCOUNT_LOCKED');
    expect(Number(locking.headers['retry-after'])).toBeGreaterThan(0);
    // The lock is the login's: even the right password is refused from this address now.
    expectProblem(await signIn('pw-guesser', user.password), 429, 'ACCOUNT_LOCKED');
    expectProblem(
      await changePassword(user.accessToken, user.password, 'a brand new passphrase 42'),
      429,
      'ACCOUNT_LOCKED',
    );
    // Nothing changed: the session lives on.
    await me(user.accessToken).expect(200);
    await refresh(user.refreshToken).expect(200);
  });

  it('bad input is 400 and changes nothing', async () => {
    const user = await createUser(t.http, admin.accessToken, 'pw-bad-input');
    for (const [current, next] of [
      [user.password, 'short'],
      [user.password, 'x'.repeat(257)],
      [user.password, 12345678901234],
      ['', 'a brand new passphrase 42'],
      [undefined, 'a brand new passphrase 42'],
    ])
      expectProblem(await changePassword(user.accessToken, current, next), 400, 'VALIDATION_FAILED');
    await me(user.accessToken).expect(200);
    await refresh(user.refreshToken).expect(200);
    await signIn('pw-bad-input', user.password).expect(200);
    expectProblem(
      await api().delete('/api/v1/auth/sessions/not-a-uuid').auth(user.accessToken, { type: 'bearer' }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await changePassword('not-a-token', user.password, 'a brand new passphrase 42'),
      401,
      'UNAUTHENTICATED',
    );
  });

  it('lists live sessions with their origin and the current one; revoking one ends its refresh token only', async () => {
    const user = await createUser(t.http, admin.accessToken, 'session-keeper');
    const laptop = (await signIn('session-keeper', user.password, 'laptop-browser').expect(200)).body;
    const phone = (await signIn('session-keeper', user.password, 'phone-app').expect(200)).body;
    // A rotation keeps its session (and its origin) and moves its lastUsedAt.
    const rotated = (await refresh(phone.refreshToken).expect(200)).body;

    const listed = (await sessions(laptop.accessToken).expect(200)).body as Array<Record<string, unknown>>;
    expect(listed).toHaveLength(3); // createUser's sign-in, the laptop, the phone
    const byAgent = (agent: string) => listed.find((s) => s.userAgent === agent)!;
    expect(byAgent('laptop-browser')).toEqual({
      id: expect.any(String),
      createdAt: expect.any(String),
      lastUsedAt: expect.any(String),
      createdIp: expect.stringMatching(/127\.0\.0\.1/),
      userAgent: 'laptop-browser',
      current: true,
    });
    const phoneSession = byAgent('phone-app');
    expect(phoneSession.current).toBe(false);
    expect(Date.parse(phoneSession.lastUsedAt as string)).toBeGreaterThan(Date.parse(phoneSession.createdAt as string));
    // The rotated access token (jti = the new refresh token) still names the phone's session.
    const fromPhone = (await sessions(rotated.accessToken).expect(200)).body as Array<{ id: string; current: boolean }>;
    expect(fromPhone.filter((s) => s.current).map((s) => s.id)).toEqual([phoneSession.id]);

    // Another user cannot see or end it.
    const stranger = await createUser(t.http, admin.accessToken, 'session-stranger');
    const theirs = (await sessions(stranger.accessToken).expect(200)).body as Array<{ id: string }>;
    expect(theirs.map((s) => s.id)).not.toContain(phoneSession.id);
    expectProblem(
      await api().delete(`/api/v1/auth/sessions/${phoneSession.id}`).auth(stranger.accessToken, { type: 'bearer' }),
      404,
      'NOT_FOUND',
    );
    await refresh(rotated.refreshToken)
      .expect(200)
      .then((res) => Object.assign(rotated, res.body));

    await api()
      .delete(`/api/v1/auth/sessions/${phoneSession.id}`)
      .auth(laptop.accessToken, { type: 'bearer' })
      .expect(204);
    expectProblem(await refresh(rotated.refreshToken), 401, 'INVALID_REFRESH_TOKEN');
    const after = (await sessions(laptop.accessToken).expect(200)).body as Array<{ id: string }>;
    expect(after.map((s) => s.id)).not.toContain(phoneSession.id);
    expect(after).toHaveLength(2);
    // Ending it again: it is over, 404.
    expectProblem(
      await api().delete(`/api/v1/auth/sessions/${phoneSession.id}`).auth(laptop.accessToken, { type: 'bearer' }),
      404,
      'NOT_FOUND',
    );
    // The laptop's session is untouched.
    await refresh(laptop.refreshToken).expect(200);
  });

  it("revoking a session refuses its access tokens on the very next request; other sessions' tokens keep working", async () => {
    const user = await createUser(t.http, admin.accessToken, 'session-thief-victim');
    const stolen = (await signIn('session-thief-victim', user.password, 'thief-laptop').expect(200)).body;
    const stolenRotated = (await refresh(stolen.refreshToken).expect(200)).body;
    await me(stolen.accessToken).expect(200);
    await me(stolenRotated.accessToken).expect(200);
    const listed = (await sessions(user.accessToken).expect(200)).body as Array<{ id: string; userAgent: string }>;
    const stolenSession = listed.find((s) => s.userAgent === 'thief-laptop')!;

    await api()
      .delete(`/api/v1/auth/sessions/${stolenSession.id}`)
      .auth(user.accessToken, { type: 'bearer' })
      .expect(204);
    // Every access token the session handed out (before and after its rotation) is refused at once.
    for (const token of [stolen.accessToken, stolenRotated.accessToken]) {
      const refused = await me(token);
      expectProblem(refused, 401, 'UNAUTHENTICATED');
      expect(refused.body.detail).toBe('The access token has been revoked');
      expect(refused.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      expectProblem(await api().get('/api/v1/vms').auth(token, { type: 'bearer' }), 401, 'UNAUTHENTICATED');
    }
    // The caller's own session, and a session started after, work on.
    await me(user.accessToken).expect(200);
    await api().get('/api/v1/vms').auth(user.accessToken, { type: 'bearer' }).expect(200);
    const later = await login(t.http, 'session-thief-victim', user.password);
    await me(later.accessToken).expect(200);
  });
});
