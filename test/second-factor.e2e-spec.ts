import { Secret, TOTP } from 'otpauth';
import request from 'supertest';
import type { App } from 'supertest/types';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

/** A code of the step `stepsAhead` after now (the server accepts one step either side). */
const codeOf = (secret: string, stepsAhead = 0) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: Date.now() + stepsAhead * 30_000 });

const signIn = (http: App, username: string, password: string) =>
  request(http).post('/api/v1/auth/login').send({ username, password });
const secondFactor = (http: App, body: object) => request(http).post('/api/v1/auth/login/second-factor').send(body);

/** Enrols and confirms a factor for the user, with a code of the current step (returned: spent from then on). */
async function enableTotp(
  http: App,
  accessToken: string,
): Promise<{ secret: string; recoveryCodes: string[]; confirmingCode: string }> {
  const enrolled = await request(http).post('/api/v1/auth/totp').auth(accessToken, { type: 'bearer' }).expect(200);
  const secret = enrolled.body.secret as string;
  const confirmingCode = codeOf(secret);
  const confirmed = await request(http)
    .post('/api/v1/auth/totp/confirm')
    .auth(accessToken, { type: 'bearer' })
    .send({ code: confirmingCode })
    .expect(200);
  return { secret, recoveryCodes: confirmed.body.recoveryCodes, confirmingCode };
}

/** Signs in with the password, expects the challenge, answers it. */
async function challengeOf(http: App, username: string, password: string, enrolment = false): Promise<string> {
  const res = await signIn(http, username, password);
  expectProblem(res, 401, 'SECOND_FACTOR_REQUIRED');
  expect(res.body).toEqual(expect.objectContaining({ challenge: expect.any(String), enrolment }));
  expect(res.body).not.toHaveProperty('accessToken');
  return res.body.challenge;
}

describe('TOTP second factor (e2e)', () => {
  let t: TestApp;
  let admin: { accessToken: string };

  beforeAll(async () => {
    t = await startTestApp({ LOCKOUT_THRESHOLD: '5' });
    admin = await login(t.http, ADMIN.username, ADMIN.password);
  });
  afterAll(() => t.close());

  const me = (token: string) => request(t.http).get('/api/v1/auth/me').auth(token, { type: 'bearer' });

  it('enrols with an otpauth URI and a QR code; then a sign-in needs a code, accepted once only', async () => {
    const user = await createUser(t.http, admin.accessToken, 'totp-alice');
    const enrolled = await request(t.http)
      .post('/api/v1/auth/totp')
      .auth(user.accessToken, { type: 'bearer' })
      .expect(200);
    expect(enrolled.body).toEqual({
      secret: expect.stringMatching(/^[A-Z2-7]{32}$/),
      otpauthUri: `otpauth://totp/LIMEN:totp-alice?issuer=LIMEN&secret=${enrolled.body.secret}&algorithm=SHA1&digits=6&period=30`,
      qrSvg: expect.stringMatching(/^<svg/),
    });
    // Pending until confirmed: the sign-in still needs only the password, and a wrong code confirms nothing.
    expect((await me(user.accessToken).expect(200)).body.totpEnabled).toBe(false);
    const wrong = String((Number(codeOf(enrolled.body.secret)) + 1) % 1_000_000).padStart(6, '0');
    expectProblem(
      await request(t.http)
        .post('/api/v1/auth/totp/confirm')
        .auth(user.accessToken, { type: 'bearer' })
        .send({ code: wrong }),
      401,
      'INVALID_SECOND_FACTOR',
    );
    await signIn(t.http, 'totp-alice', user.password).expect(200);
    // Kept: the replay below must present this very code, even if a 30 s step passes meanwhile.
    const confirmingCode = codeOf(enrolled.body.secret);
    const confirmed = await request(t.http)
      .post('/api/v1/auth/totp/confirm')
      .auth(user.accessToken, { type: 'bearer' })
      .send({ code: confirmingCode })
      .expect(200);
    expect(confirmed.body.recoveryCodes).toHaveLength(10);
    expect((await me(user.accessToken).expect(200)).body.totpEnabled).toBe(true);
    // A second enrolment is refused while one is on.
    expectProblem(
      await request(t.http).post('/api/v1/auth/totp').auth(user.accessToken, { type: 'bearer' }),
      409,
      'CONFLICT',
    );

    const challenge = await challengeOf(t.http, 'totp-alice', user.password);
    // The code that confirmed the factor is spent: the same step again is a replay.
    expectProblem(await secondFactor(t.http, { challenge, code: confirmingCode }), 401, 'INVALID_SECOND_FACTOR');
    const code = codeOf(enrolled.body.secret, 1);
    const tokens = await secondFactor(t.http, { challenge, code }).expect(200);
    expect(tokens.body).toEqual({
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      tokenType: 'Bearer',
      expiresIn: 900,
    });
    await me(tokens.body.accessToken).expect(200);
    // The challenge is spent; and the code, on a new challenge, is a replay.
    expectProblem(await secondFactor(t.http, { challenge, code }), 401, 'INVALID_CHALLENGE');
    const again = await challengeOf(t.http, 'totp-alice', user.password);
    expectProblem(await secondFactor(t.http, { challenge: again, code }), 401, 'INVALID_SECOND_FACTOR');
  });

  it('recovery codes work once each', async () => {
    const user = await createUser(t.http, admin.accessToken, 'totp-rita');
    const { recoveryCodes } = await enableTotp(t.http, user.accessToken);
    const first = await challengeOf(t.http, 'totp-rita', user.password);
    await secondFactor(t.http, { challenge: first, recoveryCode: recoveryCodes[0].toUpperCase() }).expect(200);
    const second = await challengeOf(t.http, 'totp-rita', user.password);
    expectProblem(
      await secondFactor(t.http, { challenge: second, recoveryCode: recoveryCodes[0] }),
      401,
      'INVALID_SECOND_FACTOR',
    );
    await secondFactor(t.http, { challenge: second, recoveryCode: recoveryCodes[1] }).expect(200);
    // New codes replace the old ones.
    const renewed = await request(t.http)
      .post('/api/v1/auth/totp/recovery-codes')
      .auth(user.accessToken, { type: 'bearer' })
      .send({ recoveryCode: recoveryCodes[2] })
      .expect(200);
    expect(renewed.body.recoveryCodes).toHaveLength(10);
    const third = await challengeOf(t.http, 'totp-rita', user.password);
    expectProblem(
      await secondFactor(t.http, { challenge: third, recoveryCode: recoveryCodes[3] }),
      401,
      'INVALID_SECOND_FACTOR',
    );
    await secondFactor(t.http, { challenge: third, recoveryCode: renewed.body.recoveryCodes[0] }).expect(200);
  });

  it('5 bad codes lock the name for this address like 5 bad passwords; the password alone does not reset the count', async () => {
    const user = await createUser(t.http, admin.accessToken, 'totp-mallory');
    const { secret } = await enableTotp(t.http, user.accessToken);
    const bad = String((Number(codeOf(secret, 1)) + 7) % 1_000_000).padStart(6, '0');
    const challenge = await challengeOf(t.http, 'totp-mallory', user.password);
    for (let i = 0; i < 2; i++)
      expectProblem(await secondFactor(t.http, { challenge, code: bad }), 401, 'INVALID_SECOND_FACTOR');
    // A right password in between does not clear the failures: it only yields a new challenge.
    const fresh = await challengeOf(t.http, 'totp-mallory', user.password);
    for (let i = 0; i < 2; i++)
      expectProblem(await secondFactor(t.http, { challenge: fresh, code: bad }), 401, 'INVALID_SECOND_FACTOR');
    const locking = await secondFactor(t.http, { challenge: fresh, code: bad });
    expectProblem(locking, 429, 'ACCOUNT_LOCKED');
    expect(Number(locking.headers['retry-after'])).toBeGreaterThan(0);
    // Locked: the right code, and the right password, are refused too.
    expectProblem(await secondFactor(t.http, { challenge: fresh, code: codeOf(secret, 1) }), 429, 'ACCOUNT_LOCKED');
    expectProblem(await signIn(t.http, 'totp-mallory', user.password), 429, 'ACCOUNT_LOCKED');
  });

  it('an admin resets a user’s factor (audited); users cannot', async () => {
    const user = await createUser(t.http, admin.accessToken, 'totp-lost-phone');
    await enableTotp(t.http, user.accessToken);
    await challengeOf(t.http, 'totp-lost-phone', user.password);
    expectProblem(
      await request(t.http).delete(`/api/v1/users/${user.id}/totp`).auth(user.accessToken, { type: 'bearer' }),
      403,
      'FORBIDDEN',
    );
    await request(t.http)
      .delete(`/api/v1/users/${user.id}/totp`)
      .auth(admin.accessToken, { type: 'bearer' })
      .expect(204);
    await signIn(t.http, 'totp-lost-phone', user.password).expect(200);
    const shown = await request(t.http).get(`/api/v1/users/${user.id}`).auth(admin.accessToken, { type: 'bearer' });
    expect(shown.body.totpEnabled).toBe(false);
    expectProblem(
      await request(t.http)
        .delete('/api/v1/users/00000000-0000-4000-8000-000000000000/totp')
        .auth(admin.accessToken, { type: 'bearer' }),
      404,
      'NOT_FOUND',
    );
    const audit = await request(t.http)
      .get(`/api/v1/audit?action=users.totp-reset&targetId=${user.id}`)
      .auth(admin.accessToken, { type: 'bearer' })
      .expect(200);
    expect(audit.body.items).toHaveLength(1);
  });

  it('disabling needs a current code (or a recovery code); then the password alone signs in', async () => {
    const user = await createUser(t.http, admin.accessToken, 'totp-quitter');
    const { secret, confirmingCode } = await enableTotp(t.http, user.accessToken);
    const disable = (body: object) =>
      request(t.http).delete('/api/v1/auth/totp').auth(user.accessToken, { type: 'bearer' }).send(body);
    expectProblem(await disable({ code: confirmingCode }), 401, 'INVALID_SECOND_FACTOR'); // spent
    await disable({ code: codeOf(secret, 1) }).expect(204);
    await signIn(t.http, 'totp-quitter', user.password).expect(200);
    expectProblem(await disable({ code: codeOf(secret, 1) }), 409, 'CONFLICT');
  });

  it('bad input is 400 and changes nothing', async () => {
    const user = await createUser(t.http, admin.accessToken, 'totp-fuzz');
    const { secret, recoveryCodes } = await enableTotp(t.http, user.accessToken);
    const challenge = await challengeOf(t.http, 'totp-fuzz', user.password);
    for (const body of [
      { challenge },
      { challenge, code: '12345' },
      { challenge, code: 123456 },
      { challenge, code: '12345a' },
      { challenge, recoveryCode: 'not a code!' },
      { challenge, code: codeOf(secret, 1), recoveryCode: recoveryCodes[0] },
      { challenge: 'bad challenge', code: codeOf(secret, 1) },
      { code: codeOf(secret, 1) },
    ])
      expectProblem(await secondFactor(t.http, body), 400, 'VALIDATION_FAILED');
    for (const body of [{}, { code: 'abcdef' }, { code: codeOf(secret, 1), recoveryCode: recoveryCodes[0] }])
      expectProblem(
        await request(t.http).delete('/api/v1/auth/totp').auth(user.accessToken, { type: 'bearer' }).send(body),
        400,
        'VALIDATION_FAILED',
      );
    // Nothing was spent or counted: the challenge, the code and the recovery code all still work.
    await secondFactor(t.http, { challenge, code: codeOf(secret, 1) }).expect(200);
    const next = await challengeOf(t.http, 'totp-fuzz', user.password);
    await secondFactor(t.http, { challenge: next, recoveryCode: recoveryCodes[0] }).expect(200);
    expect((await me(user.accessToken).expect(200)).body.totpEnabled).toBe(true);
  });
});

describe('REQUIRE_2FA=all (e2e)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ REQUIRE_2FA: 'all' });
  });
  afterAll(() => t.close());

  it('a sign-in without a factor must enrol through its challenge; the next one needs a code', async () => {
    const challenge = await challengeOf(t.http, ADMIN.username, ADMIN.password, true);
    // Not before enrolling: there is no secret to take a code from.
    expectProblem(await secondFactor(t.http, { challenge, code: '123456' }), 409, 'CONFLICT');
    const enrolment = await request(t.http).post('/api/v1/auth/login/totp-enrolment').send({ challenge }).expect(200);
    expect(enrolment.body.otpauthUri).toContain(`secret=${enrolment.body.secret}`);
    const done = await secondFactor(t.http, { challenge, code: codeOf(enrolment.body.secret) }).expect(200);
    expect(done.body.recoveryCodes).toHaveLength(10);
    const me = await request(t.http).get('/api/v1/auth/me').auth(done.body.accessToken, { type: 'bearer' }).expect(200);
    expect(me.body.totpEnabled).toBe(true);

    const next = await challengeOf(t.http, ADMIN.username, ADMIN.password, false);
    // An enrolment challenge is no longer on offer.
    expectProblem(
      await request(t.http).post('/api/v1/auth/login/totp-enrolment').send({ challenge: next }),
      401,
      'INVALID_CHALLENGE',
    );
    await secondFactor(t.http, { challenge: next, code: codeOf(enrolment.body.secret, 1) }).expect(200);
  });
});
