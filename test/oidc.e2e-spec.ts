import request from 'supertest';
import { freePort } from './support/agent-process';
import {
  OIDC_CLIENT,
  OIDC_REDIRECT_URI,
  OidcProviderProcess,
  ProviderBrowser,
  startOidcProvider,
} from './support/oidc';
import { ADMIN, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(120_000);

const SUBJECTS = {
  alice: 'sub-0001-alice', // groups: limen-admins, staff
  bob: 'sub-0002-bob', // groups: staff
  mallory: 'sub-0003-mallory', // preferred_username: root-admin (a name LIMEN already has)
  carol: 'sub-0004-carol',
  dave: 'sub-0005-dave',
};

function oidcEnv(issuer: string, registration: string): Record<string, string> {
  return {
    REGISTRATION: registration,
    OIDC_ISSUER: issuer,
    OIDC_CLIENT_ID: OIDC_CLIENT.id,
    OIDC_CLIENT_SECRET: OIDC_CLIENT.secret,
    OIDC_REDIRECT_URI: OIDC_REDIRECT_URI,
    OIDC_ADMIN_GROUP: 'limen-admins',
  };
}

const BINDING_COOKIE = 'limen_oidc_binding';

/** The `name=value` of the binding cookie an answer sets ('' when it sets none). */
function bindingCookie(res: request.Response): string {
  const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  return cookies.find((c) => c.startsWith(`${BINDING_COOKIE}=`))?.split(';')[0] ?? '';
}

/**
 * Each sign-in here runs in a browser of its own: the binding cookie its /auth/oidc/login set, by
 * its state, which `callback` sends back unless a test says which cookie the browser holds.
 */
const browsers = new Map<string, string>();

/** The app's /auth/oidc/login redirect: the provider's authorization URL. */
async function authorizationUrl(t: TestApp): Promise<string> {
  const res = await request(t.http).get('/api/v1/auth/oidc/login').expect(302);
  browsers.set(new URL(res.headers.location).searchParams.get('state')!, bindingCookie(res));
  return res.headers.location;
}

/** The binding cookie of the browser that was sent to `url` (an authorization URL). */
const cookieOf = (url: string) => browsers.get(new URL(url).searchParams.get('state')!)!;

function callback(t: TestApp, query: URLSearchParams, cookie = browsers.get(query.get('state') ?? '') ?? '') {
  const req = request(t.http).get(`/api/v1/auth/oidc/callback?${query}`);
  return cookie ? req.set('Cookie', cookie) : req;
}

async function usernames(t: TestApp, adminToken: string): Promise<string[]> {
  const res = await request(t.http).get('/api/v1/users?limit=500').auth(adminToken, { type: 'bearer' }).expect(200);
  return (res.body.items as { username: string }[]).map((u) => u.username).sort();
}

async function me(t: TestApp, accessToken: string): Promise<{ id: string; username: string; role: string }> {
  return (await request(t.http).get('/api/v1/auth/me').auth(accessToken, { type: 'bearer' }).expect(200)).body;
}

describe('OIDC sign-in against a real OpenID provider (e2e)', () => {
  let provider: OidcProviderProcess;
  let t: TestApp;
  let admin: string;

  /** A full sign-in through the provider in a fresh browser; the query it sends back to LIMEN. */
  const providerCallback = async (subject: string) =>
    new ProviderBrowser(provider.issuer).signIn(await authorizationUrl(t), subject);

  beforeAll(async () => {
    provider = await startOidcProvider();
    t = await startTestApp(oidcEnv(provider.issuer, 'open'));
    admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
  });
  afterAll(async () => {
    await t?.close();
    await provider?.stop();
  });

  it('says it is enabled, and redirects to the authorization endpoint with PKCE S256, a state and a nonce', async () => {
    const status = await request(t.http).get('/api/v1/auth/oidc').expect(200);
    expect(status.body).toEqual({ enabled: true, issuer: provider.issuer });
    const url = new URL(await authorizationUrl(t));
    expect(url.origin + url.pathname).toBe(`${provider.issuer}/auth`);
    expect(Object.fromEntries(url.searchParams)).toEqual(
      expect.objectContaining({
        response_type: 'code',
        client_id: OIDC_CLIENT.id,
        redirect_uri: OIDC_REDIRECT_URI,
        code_challenge_method: 'S256',
        scope: 'openid profile email groups',
      }),
    );
    for (const name of ['state', 'nonce', 'code_challenge']) expect(url.searchParams.get(name)).toMatch(/^.{32,}$/);

    // A page that calls fetch asks for JSON: the same kind of URL, in a body; each call starts its own sign-in.
    const json = await request(t.http).get('/api/v1/auth/oidc/login').set('Accept', 'application/json').expect(200);
    const fromJson = new URL(json.body.authorizationUrl);
    expect(fromJson.origin + fromJson.pathname).toBe(`${provider.issuer}/auth`);
    expect(fromJson.searchParams.get('state')).not.toBe(url.searchParams.get('state'));
  });

  it('binds each sign-in to its browser with a short-lived HttpOnly, SameSite=Lax cookie on the OIDC routes', async () => {
    const redirect = await request(t.http).get('/api/v1/auth/oidc/login').expect(302);
    const json = await request(t.http).get('/api/v1/auth/oidc/login').set('Accept', 'application/json').expect(200);
    for (const res of [redirect, json]) {
      const setCookie = ([] as string[]).concat(res.headers['set-cookie']).find((c) => c.startsWith(BINDING_COOKIE));
      expect(setCookie).toMatch(/^limen_oidc_binding=[A-Za-z0-9_-]{43}; /);
      const attributes = setCookie!.split('; ').slice(1);
      expect(attributes).toEqual(
        expect.arrayContaining(['Max-Age=600', 'Path=/api/v1/auth/oidc', 'HttpOnly', 'SameSite=Lax']),
      );
      // Plain http here: Secure only when the request came over TLS (or a trusted proxy says so).
      expect(attributes).not.toContain('Secure');
    }
    expect(bindingCookie(json)).not.toBe(bindingCookie(redirect));
  });

  it('creates the account on the first sign-in (admin group → admin) and links the second to it', async () => {
    const before = await usernames(t, admin);
    const first = await callback(t, await providerCallback(SUBJECTS.alice)).expect(200);
    expect(first.body).toEqual(expect.objectContaining({ tokenType: 'Bearer', accessToken: expect.any(String) }));
    const alice = await me(t, first.body.accessToken);
    expect(alice).toEqual(expect.objectContaining({ username: 'alice', role: 'admin', status: 'active' }));
    expect(await usernames(t, admin)).toEqual([...before, 'alice'].sort());

    const second = await callback(t, await providerCallback(SUBJECTS.alice)).expect(200);
    expect((await me(t, second.body.accessToken)).id).toBe(alice.id);
    expect(await usernames(t, admin)).toEqual([...before, 'alice'].sort());

    // No password signs in as an account made by OIDC.
    const password = await request(t.http)
      .post('/api/v1/auth/login')
      .send({ username: 'alice', password: 'x'.repeat(12) });
    expectProblem(password, 401, 'INVALID_CREDENTIALS');
  });

  it('maps the admin group at every sign-in, and never links by name', async () => {
    const bob = await me(t, (await callback(t, await providerCallback(SUBJECTS.bob)).expect(200)).body.accessToken);
    expect(bob).toEqual(expect.objectContaining({ username: 'bob', role: 'user' }));

    // An admin demotes alice in LIMEN; she is in the admin group, so her next sign-in makes her admin again.
    const alice = (await usernames(t, admin)).includes('alice');
    expect(alice).toBe(true);
    const users = (await request(t.http).get('/api/v1/users?limit=500').auth(admin, { type: 'bearer' })).body.items;
    const aliceId = users.find((u: { username: string }) => u.username === 'alice').id;
    await request(t.http)
      .patch(`/api/v1/users/${aliceId}`)
      .auth(admin, { type: 'bearer' })
      .send({ role: 'user' })
      .expect(200);
    const again = await me(t, (await callback(t, await providerCallback(SUBJECTS.alice)).expect(200)).body.accessToken);
    expect(again).toEqual(expect.objectContaining({ id: aliceId, role: 'admin' }));

    // preferred_username "root-admin" is taken by the password admin: a new account with a suffix, not the admin.
    const mallory = await me(
      t,
      (await callback(t, await providerCallback(SUBJECTS.mallory)).expect(200)).body.accessToken,
    );
    expect(mallory).toEqual(expect.objectContaining({ username: 'root-admin-2', role: 'user' }));
  });

  it('refuses a tampered state, creating nothing; the untouched callback still signs in', async () => {
    const before = await usernames(t, admin);
    const query = await providerCallback(SUBJECTS.carol);
    const tampered = new URLSearchParams(query);
    const state = query.get('state')!;
    tampered.set('state', (state[0] === 'A' ? 'B' : 'A') + state.slice(1));
    // In the browser that started the sign-in: only the state is wrong.
    expectProblem(await callback(t, tampered, browsers.get(state)), 401, 'OIDC_LOGIN_FAILED');
    const missing = new URLSearchParams(query);
    missing.delete('state');
    expectProblem(await callback(t, missing), 401, 'OIDC_LOGIN_FAILED');
    expect(await usernames(t, admin)).toEqual(before);

    await callback(t, query).expect(200);
    expect(await usernames(t, admin)).toEqual([...before, 'carol'].sort());
  });

  it('refuses the callback in a browser that did not start the sign-in (login CSRF), without spending the state', async () => {
    // An attacker signs in at the provider as bob and has a victim's browser open the callback link.
    const before = await usernames(t, admin);
    const attackers = await providerCallback(SUBJECTS.bob);
    const victims = cookieOf(await authorizationUrl(t)); // the victim's own sign-in, started meanwhile
    const refused = [
      await callback(t, attackers, ''),
      await callback(t, attackers, victims),
      await callback(t, attackers, `${BINDING_COOKIE}=${'A'.repeat(43)}`),
    ];
    for (const res of refused) {
      expectProblem(res, 401, 'OIDC_LOGIN_FAILED');
      expect(res.headers['set-cookie']).toBeUndefined(); // the victim's own binding stays
    }
    expect(await usernames(t, admin)).toEqual(before);

    // None of that spent the state: in the browser that started it, it signs in, and the binding is cleared.
    const ok = await callback(t, attackers).expect(200);
    expect(await me(t, ok.body.accessToken)).toEqual(expect.objectContaining({ username: 'bob' }));
    expect(ok.headers['set-cookie']).toEqual([
      expect.stringMatching(/^limen_oidc_binding=; .*Expires=Thu, 01 Jan 1970/),
    ]);
    expectProblem(await callback(t, attackers), 401, 'OIDC_LOGIN_FAILED');
  });

  it('refuses a replayed code: with its spent state, and with a fresh state', async () => {
    const query = await providerCallback(SUBJECTS.bob);
    await callback(t, query).expect(200);
    expectProblem(await callback(t, query), 401, 'OIDC_LOGIN_FAILED');

    // The same code under the state of another sign-in started meanwhile: the provider refuses a spent code.
    const fresh = new URL(await authorizationUrl(t));
    const replay = new URLSearchParams(query);
    replay.set('state', fresh.searchParams.get('state')!);
    expectProblem(await callback(t, replay), 401, 'OIDC_LOGIN_FAILED');
  });

  it('refuses a callback with a foreign issuer (RFC 9207 iss), creating nothing', async () => {
    const before = await usernames(t, admin);
    const browser = new ProviderBrowser(provider.issuer);
    const query = await browser.signIn(await authorizationUrl(t), SUBJECTS.dave);
    expect(query.get('iss')).toBe(provider.issuer);
    const foreign = new URLSearchParams(query);
    foreign.set('iss', 'http://127.0.0.1:1/evil');
    expectProblem(await callback(t, foreign), 401, 'OIDC_LOGIN_FAILED');
    expect(await usernames(t, admin)).toEqual(before);
  });

  it('records auth.oidc-login (success and failure) and auth.oidc-register in the audit trail', async () => {
    await new Promise((r) => setTimeout(r, 200));
    const entries = async (action: string) =>
      (
        await request(t.http)
          .get(`/api/v1/audit?limit=500&action=${action}`)
          .auth(admin, { type: 'bearer' })
          .expect(200)
      ).body.items as { result: string; errorCode: string | null; actorUsername: string | null; after: unknown }[];
    const logins = await entries('auth.oidc-login');
    expect(logins.filter((e) => e.result === 'success').map((e) => e.actorUsername)).toEqual(
      expect.arrayContaining(['alice', 'bob', 'carol', 'root-admin-2']),
    );
    expect(logins.filter((e) => e.result === 'failure').map((e) => e.errorCode)).toEqual(
      expect.arrayContaining(['OIDC_LOGIN_FAILED']),
    );
    const created = await entries('auth.oidc-register');
    expect(created.map((e) => e.actorUsername).sort()).toEqual(['alice', 'bob', 'carol', 'root-admin-2']);
    expect(created[0].after).toEqual(expect.objectContaining({ issuer: provider.issuer }));
  });
});

describe('OIDC sign-in under REGISTRATION=approval and closed, and a provider that is down (e2e)', () => {
  let provider: OidcProviderProcess | undefined;
  let late: OidcProviderProcess | undefined;
  const apps: TestApp[] = [];
  beforeAll(async () => {
    provider = await startOidcProvider();
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await provider?.stop();
    await late?.stop();
  });

  it('approval: the first sign-in makes a pending account (403 ACCOUNT_PENDING), once; approved, it signs in', async () => {
    const t = await startTestApp(oidcEnv(provider!.issuer, 'approval'));
    apps.push(t);
    const admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    const browser = new ProviderBrowser(provider!.issuer);
    const signIn = async () => callback(t, await browser.signIn(await authorizationUrl(t), SUBJECTS.bob));
    expectProblem(await signIn(), 403, 'ACCOUNT_PENDING');
    expectProblem(await signIn(), 403, 'ACCOUNT_PENDING');
    const users = (await request(t.http).get('/api/v1/users?limit=500').auth(admin, { type: 'bearer' })).body.items;
    const pending = users.filter((u: { username: string }) => u.username.startsWith('bob'));
    expect(pending).toEqual([expect.objectContaining({ username: 'bob', status: 'pending' })]);
    await request(t.http).post(`/api/v1/users/${pending[0].id}/approve`).auth(admin, { type: 'bearer' }).expect(200);
    const ok = await signIn();
    expect(ok.status).toBe(200);
    expect((await me(t, ok.body.accessToken)).id).toBe(pending[0].id);
  });

  it('closed, provider down at start: 503 until it is up (discovery retried), then 403 REGISTRATION_CLOSED, nothing created', async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const t = await startTestApp(oidcEnv(issuer, 'closed'));
    apps.push(t);
    const admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    const before = await usernames(t, admin);
    expectProblem(await request(t.http).get('/api/v1/auth/oidc/login'), 503, 'SERVICE_UNAVAILABLE');
    expectProblem(await callback(t, new URLSearchParams({ code: 'x', state: 'y' })), 503, 'SERVICE_UNAVAILABLE');

    late = await startOidcProvider(port);
    expect(late.issuer).toBe(issuer);
    const query = await new ProviderBrowser(issuer).signIn(await authorizationUrl(t), SUBJECTS.alice);
    expectProblem(await callback(t, query), 403, 'REGISTRATION_CLOSED');
    expect(await usernames(t, admin)).toEqual(before);
  });

  it('answers 404 OIDC_NOT_CONFIGURED when OIDC_ISSUER is unset', async () => {
    const t = await startTestApp({});
    apps.push(t);
    expect((await request(t.http).get('/api/v1/auth/oidc').expect(200)).body).toEqual({ enabled: false });
    expectProblem(await request(t.http).get('/api/v1/auth/oidc/login'), 404, 'OIDC_NOT_CONFIGURED');
    expectProblem(await callback(t, new URLSearchParams({ code: 'x', state: 'y' })), 404, 'OIDC_NOT_CONFIGURED');
  });
});
