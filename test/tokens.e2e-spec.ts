import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { createDatabase, exited, startApiProcess } from './support/api-process';
import { hypervisorSandbox, KERNEL_IMAGE_NAME } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, REAL_POSTGRES, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(180_000);

const SECRET = /^limen_pat_[A-Za-z0-9_-]{43}$/;
const MAX_TOKENS = 4;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * Personal API tokens over HTTP, on two replicas (two Nest apps) sharing one real PostgreSQL
 * database, as in user-access.e2e-spec.ts: scopes, revocation, expiry and a disabled or deleted
 * owner on both replicas, bad input, and the secret in no later response.
 */
describe('API tokens (e2e)', () => {
  let a: TestApp;
  let b: TestApp;
  let admin: string;
  let imageId: string;
  /** Every response body and header block seen, to look for secrets afterwards. */
  const seen: string[] = [];

  const record = (res: request.Response) => {
    seen.push(JSON.stringify(res.headers), res.text ?? '');
    return res;
  };
  const get = async (t: TestApp, token: string, path: string) =>
    record(await request(t.http).get(path).set(bearer(token)));
  const send = async (t: TestApp, token: string, method: 'post' | 'patch' | 'delete', path: string, body?: object) =>
    record(await request(t.http)[method](path).set(bearer(token)).send(body));
  const rows = async (userId: string): Promise<number> =>
    (await a.app.get(DataSource).query(`SELECT count(*)::int AS n FROM api_tokens WHERE user_id = $1`, [userId]))[0].n;

  async function createToken(session: string, body: object, t = a) {
    const res = await send(t, session, 'post', '/api/v1/tokens', body);
    expect(res.status).toBe(201);
    expect(res.body.secret).toMatch(SECRET);
    return { id: res.body.token.id as string, secret: res.body.secret as string, body: res.body };
  }

  /** Polls replica `t` until it refuses `secret` on `path` (at most `withinMs`); then it stays refused. */
  async function refusedOn(t: TestApp, secret: string, withinMs: number, path = '/api/v1/vms'): Promise<number> {
    const since = Date.now();
    for (;;) {
      const res = await get(t, secret, path);
      if (res.status === 401) break;
      expect(res.status).toBe(200);
      if (Date.now() - since > withinMs) throw new Error(`replica still accepts the token after ${withinMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
    for (let i = 0; i < 3; i++) expectProblem(await get(t, secret, path), 401, 'UNAUTHENTICATED');
    return Date.now() - since;
  }

  beforeAll(async () => {
    const env = { API_TOKENS_MAX_PER_USER: String(MAX_TOKENS) };
    a = await startTestApp(env, undefined, REAL_POSTGRES);
    b = await startTestApp(env, a.data);
    admin = (await login(a.http, ADMIN.username, ADMIN.password)).accessToken;
    const images = await get(a, admin, '/api/v1/images');
    imageId = images.body.items.find((i: { name: string }) => i.name === KERNEL_IMAGE_NAME).id;
  });
  afterAll(async () => {
    await a?.close({ keepData: true }).catch(() => undefined);
    await b?.close();
  });

  it('a vms:read token lists VMs on both replicas and gets 403 INSUFFICIENT_SCOPE elsewhere; its use is recorded', async () => {
    const alice = await createUser(a.http, admin, 'token-alice');
    const { id, secret, body } = await createToken(alice.accessToken, { name: 'reader (CI)', scopes: ['vms:read'] });
    expect(body.token).toMatchObject({
      name: 'reader (CI)',
      scopes: ['vms:read'],
      userId: alice.id,
      hint: secret.slice(-4),
    });
    expect(body.token).toMatchObject({ expiresAt: null, lastUsedAt: null, revokedAt: null });
    for (const t of [a, b]) expect((await get(t, secret, '/api/v1/vms')).status).toBe(200);
    const vm = { name: 'not-made', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId, start: false };
    expectProblem(await send(a, secret, 'post', '/api/v1/vms', vm), 403, 'INSUFFICIENT_SCOPE');
    expect((await get(a, alice.accessToken, '/api/v1/vms')).body.items).toEqual([]);
    for (const path of ['/api/v1/auth/me', '/api/v1/tokens', '/api/v1/images', '/api/v1/users'])
      expectProblem(await get(b, secret, path), 403, 'INSUFFICIENT_SCOPE');
    // write implies read, and a write scope passes the guard (then the DTO is checked).
    const writer = await createToken(alice.accessToken, { name: 'writer', scopes: ['vms:write'] });
    expect((await get(a, writer.secret, '/api/v1/vms')).status).toBe(200);
    expectProblem(await send(a, writer.secret, 'post', '/api/v1/vms', {}), 400, 'VALIDATION_FAILED');
    // last use: written in the background, at most once a minute.
    for (const deadline = Date.now() + 5_000; ; await new Promise((r) => setTimeout(r, 100))) {
      const one = await get(a, alice.accessToken, `/api/v1/tokens/${id}`);
      if (one.body.lastUsedAt) {
        expect(one.body.lastUsedIp).toMatch(/127\.0\.0\.1/);
        break;
      }
      if (Date.now() > deadline) throw new Error('lastUsedAt was never recorded');
    }
  });

  it('admin routes need the admin scope, only admins grant it, and a token grants no more than it holds', async () => {
    const usersRead = await createToken(admin, { name: 'users', scopes: ['users:read'] });
    expectProblem(await get(a, usersRead.secret, '/api/v1/users'), 403, 'INSUFFICIENT_SCOPE');
    const asAdmin = await createToken(admin, { name: 'admin', scopes: ['users:read', 'admin'] });
    expect((await get(b, asAdmin.secret, '/api/v1/users')).status).toBe(200);

    const bob = await createUser(a.http, admin, 'token-bob');
    expectProblem(
      await send(a, bob.accessToken, 'post', '/api/v1/tokens', { name: 'x', scopes: ['admin'] }),
      403,
      'FORBIDDEN',
    );
    const minter = await createToken(bob.accessToken, { name: 'minter', scopes: ['tokens:write', 'vms:read'] });
    const beyond = { name: 'more', scopes: ['vms:write'] };
    expectProblem(await send(a, minter.secret, 'post', '/api/v1/tokens', beyond), 403, 'INSUFFICIENT_SCOPE');
    expect(await rows(bob.id)).toBe(1);
    await createToken(minter.secret, { name: 'less', scopes: ['vms:read'] });
    // Another user's tokens: admins see them (a token of theirs needs `admin`); others get 404/403.
    expect((await get(a, admin, `/api/v1/tokens?userId=${bob.id}`)).body.items).toHaveLength(2);
    expectProblem(await get(a, bob.accessToken, `/api/v1/tokens/${usersRead.id}`), 404, 'NOT_FOUND');
    expectProblem(await send(a, bob.accessToken, 'delete', `/api/v1/tokens/${usersRead.id}`), 404, 'NOT_FOUND');
    const adminId = (await get(a, admin, '/api/v1/auth/me')).body.id;
    expectProblem(await get(a, bob.accessToken, `/api/v1/tokens?userId=${adminId}`), 403, 'FORBIDDEN');
    // An admin's token without `admin` cannot reach other users' tokens either.
    const own = await createToken(admin, { name: 'own', scopes: ['tokens:read'] });
    expectProblem(await get(a, own.secret, `/api/v1/tokens?userId=${bob.id}`), 403, 'INSUFFICIENT_SCOPE');
    expect((await get(a, own.secret, '/api/v1/tokens')).body.items.length).toBeGreaterThanOrEqual(3);
  });

  it('a revoked token is refused on both replicas; the row stays, revoked', async () => {
    const carol = await createUser(a.http, admin, 'token-carol');
    const { id, secret } = await createToken(carol.accessToken, { name: 'soon-revoked', scopes: ['vms:read'] });
    for (const t of [a, b]) expect((await get(t, secret, '/api/v1/vms')).status).toBe(200); // cached on both
    expect((await send(a, carol.accessToken, 'delete', `/api/v1/tokens/${id}`)).status).toBe(204);
    expectProblem(await get(a, secret, '/api/v1/vms'), 401, 'UNAUTHENTICATED'); // the writing replica: the very next request
    console.log(`replica B refused the revoked token ${await refusedOn(b, secret, 2_000)} ms after the revocation`);
    const row = await get(b, admin, `/api/v1/tokens/${id}`);
    expect(row.body.revokedAt).toEqual(expect.any(String));
    expect((await send(b, admin, 'delete', `/api/v1/tokens/${id}`)).status).toBe(204); // again: nothing changes
  });

  it('an expired token is refused on both replicas at its expiry, cached or not', async () => {
    const dave = await createUser(a.http, admin, 'token-dave');
    const expiresAt = new Date(Date.now() + 3_000).toISOString();
    const { secret } = await createToken(dave.accessToken, { name: 'short', scopes: ['vms:read'], expiresAt });
    for (const t of [a, b]) expect((await get(t, secret, '/api/v1/vms')).status).toBe(200);
    await new Promise((r) => setTimeout(r, Date.parse(expiresAt) - Date.now() + 50));
    for (const t of [a, b]) expectProblem(await get(t, secret, '/api/v1/vms'), 401, 'UNAUTHENTICATED');
  });

  it("a disabled owner's tokens are refused on both replicas and revoked for good; a deleted owner's too", async () => {
    const erin = await createUser(a.http, admin, 'token-erin');
    const { id, secret } = await createToken(erin.accessToken, { name: 'owner-disabled', scopes: ['vms:read'] });
    for (const t of [a, b]) expect((await get(t, secret, '/api/v1/vms')).status).toBe(200);
    expect((await send(a, admin, 'patch', `/api/v1/users/${erin.id}`, { status: 'disabled' })).status).toBe(200);
    expectProblem(await get(a, secret, '/api/v1/vms'), 401, 'UNAUTHENTICATED');
    await refusedOn(b, secret, 2_000);
    expect((await send(a, admin, 'patch', `/api/v1/users/${erin.id}`, { status: 'active' })).status).toBe(200);
    expect((await get(a, admin, `/api/v1/tokens/${id}`)).body.revokedAt).toEqual(expect.any(String));
    for (const t of [a, b]) expectProblem(await get(t, secret, '/api/v1/vms'), 401, 'UNAUTHENTICATED');

    const frank = await createUser(a.http, admin, 'token-frank');
    const gone = await createToken(frank.accessToken, { name: 'owner-deleted', scopes: ['vms:read'] });
    for (const t of [a, b]) expect((await get(t, gone.secret, '/api/v1/vms')).status).toBe(200);
    expect((await send(b, admin, 'delete', `/api/v1/users/${frank.id}`)).status).toBe(204);
    expectProblem(await get(b, gone.secret, '/api/v1/vms'), 401, 'UNAUTHENTICATED');
    await refusedOn(a, gone.secret, 2_000);
  });

  it('refuses bad input with 400 (413 over the body limit) and creates nothing; caps live tokens per user (409)', async () => {
    const gina = await createUser(a.http, admin, 'token-gina');
    const bad: Array<[object, number]> = [
      [{ name: '<token/>', scopes: ['vms:read'] }, 400],
      [{ name: 'a&b', scopes: ['vms:read'] }, 400],
      [{ name: '', scopes: ['vms:read'] }, 400],
      [{ name: ' padded', scopes: ['vms:read'] }, 400],
      [{ name: 'x'.repeat(65), scopes: ['vms:read'] }, 400],
      [{ name: 'x'.repeat(200_000), scopes: ['vms:read'] }, 400],
      [{ name: 'ok', scopes: ['vms:read', 'vms:destroy'] }, 400],
      [{ name: 'ok', scopes: [] }, 400],
      [{ name: 'ok', scopes: 'vms:read' }, 400],
      [{ name: 'ok', scopes: ['vms:read', 'vms:read'] }, 400],
      [{ name: 'ok', scopes: ['vms:read'], expiresAt: '2001-01-01T00:00:00Z' }, 400],
      [{ name: 'ok', scopes: ['vms:read'], expiresAt: 'tomorrow' }, 400],
      [{ name: 'ok', scopes: ['vms:read'], expiresAt: '2099-01-01T00:00:00Z', expiresInDays: 5 }, 400],
      [{ name: 'ok', scopes: ['vms:read'], expiresInDays: 0 }, 400],
      [{ name: 'ok', scopes: ['vms:read'], userId: admin }, 400],
      [{ name: 'x'.repeat(2 * 1024 * 1024), scopes: ['vms:read'] }, 413],
    ];
    for (const [body, status] of bad) {
      const res = await send(a, gina.accessToken, 'post', '/api/v1/tokens', body);
      expectProblem(res, status, status === 400 ? 'VALIDATION_FAILED' : 'PAYLOAD_TOO_LARGE');
    }
    expect(await rows(gina.id)).toBe(0);

    const made = [];
    for (let i = 0; i < MAX_TOKENS; i++)
      made.push(await createToken(gina.accessToken, { name: `t${i}`, scopes: ['vms:read'], expiresInDays: 1 }));
    expectProblem(
      await send(b, gina.accessToken, 'post', '/api/v1/tokens', { name: 'one-more', scopes: ['vms:read'] }),
      409,
      'CONFLICT',
    );
    expect(await rows(gina.id)).toBe(MAX_TOKENS);
    await send(a, gina.accessToken, 'delete', `/api/v1/tokens/${made[0].id}`);
    await createToken(gina.accessToken, { name: 'one-more', scopes: ['vms:read'] }, b);
  });

  it('never shows a secret again: no later response (lists, gets, audit) carries any', async () => {
    const created = seen.flatMap((text) => text.match(/limen_pat_[A-Za-z0-9_-]{43}/g) ?? []);
    const secrets = new Set(created);
    expect(secrets.size).toBeGreaterThan(5);
    record(await request(a.http).get('/api/v1/audit?limit=500').set(bearer(admin)));
    expect(seen.at(-1)).toContain('token.create');
    // Each secret appears in exactly one response (its creation) and in no other text seen.
    for (const secret of secrets) expect(seen.filter((text) => text.includes(secret))).toHaveLength(1);
  });
});

/** The built api (npm run build) as an operator runs it, at debug level: no log line holds a secret. */
describe('API token secrets in the log (e2e, built api)', () => {
  it('logs the requests that carried a token but never the secret', async () => {
    const database = await createDatabase();
    const sandbox = hypervisorSandbox();
    const dataDir = mkdtempSync(join(tmpdir(), 'limen-tokens-log-'));
    const api = await startApiProcess({
      ...sandbox.env,
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      LOG_LEVEL: 'debug',
      RECONCILE_INTERVAL_SECONDS: '86400',
    });
    try {
      const call = (method: string, path: string, token?: string, body?: object) =>
        fetch(`${api.base}${path}`, {
          method,
          headers: { 'content-type': 'application/json', ...(token ? bearer(token) : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
      const session = (
        (await (await call('POST', '/api/v1/auth/login', undefined, ADMIN)).json()) as { accessToken: string }
      ).accessToken;
      const res = await call('POST', '/api/v1/tokens', session, { name: 'logged', scopes: ['vms:read'] });
      const created = (await res.json()) as { secret: string; token: { id: string } };
      const secret: string = created.secret;
      expect(secret).toMatch(SECRET);
      expect((await call('GET', '/api/v1/vms', secret)).status).toBe(200);
      // Another last character (the secret itself ends in 'A' once in 64 runs).
      const forged = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
      expect((await call('GET', '/api/v1/vms?x=1', forged)).status).toBe(401);
      expect((await call('POST', '/api/v1/vms', secret, {})).status).toBe(403);
      expect((await call('DELETE', `/api/v1/tokens/${created.token.id}`, session)).status).toBe(204);
      expect((await call('GET', '/api/v1/vms', secret)).status).toBe(401);
      await new Promise((r) => setTimeout(r, 500));
      const output = api.output();
      // The requests were logged (so the check below looks at real lines) ...
      expect(output).toContain(created.token.id);
      expect(output.match(/"url":"\/api\/v1\/vms"/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
      // ... and no line holds the secret, nor its random part.
      expect(output).not.toContain(secret.slice('limen_pat_'.length));
      expect(output).not.toMatch(/limen_pat_[A-Za-z0-9_-]{20}/);
    } finally {
      api.child.kill('SIGTERM');
      await exited(api.child);
      await database.drop();
      sandbox.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
