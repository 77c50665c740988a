import { JwtService } from '@nestjs/jwt';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { WebSocket } from 'ws';
import { GUEST_DIR, GUEST_MARKER, KERNEL_IMAGE_NAME, virsh, vmFiles } from './support/hypervisor';
import { ADMIN, createUser, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(240_000);

interface Session {
  ws: WebSocket;
  closed: Promise<{ code: number; reason: string; at: number }>;
}

interface Refusal {
  status: number;
  body: { code?: string };
  headers: Record<string, string | string[] | undefined>;
}

/** Refused upgrades from one IP tolerated per minute (AUTH_RATE_LIMIT_PER_MINUTE). */
const REFUSAL_LIMIT = 20;
const DASHBOARD = 'https://dash.example';
/** A kernel image like the tiny guest, whose /init prints FLOOD_KIB KiB on its console before the marker (test/fixtures/guest/init.sh). */
const FLOOD_IMAGE_NAME = 'console-flood';
const FLOOD_KIB = 512;

/** Console WebSockets against abuse and revocation (the console's own behaviour: console.e2e-spec.ts). */
describe('console sessions: revocation and upgrade abuse (e2e, real guest)', () => {
  let t: TestApp;
  let base: string;
  let admin: { accessToken: string };
  let alice: { id: string; accessToken: string };
  let vm: string;
  let flooder: string | undefined;
  const post = (token: string, path: string) => request(t.http).post(path).auth(token, { type: 'bearer' });

  async function ticketUrl(token: string, type: 'vnc' | 'serial' = 'serial'): Promise<string> {
    return (await post(token, `/api/v1/vms/${vm}/console`).send({ type }).expect(201)).body.url;
  }

  /** Opens the WebSocket at `url`; a refused upgrade resolves to its HTTP status, headers and problem body. */
  function connect(url: string, headers: { origin?: string; userAgent?: string } = {}): Promise<Session | Refusal> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(base.replace(/^http/, 'ws') + url, {
        origin: headers.origin,
        headers: headers.userAgent ? { 'user-agent': headers.userAgent } : {},
      });
      const closed = new Promise<{ code: number; reason: string; at: number }>((done) =>
        ws.once('close', (code, reason) => done({ code, reason: reason.toString(), at: Date.now() })),
      );
      ws.once('open', () => resolve({ ws, closed }));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(body || '{}'), headers: res.headers }),
        );
      });
      ws.once('error', reject);
    });
  }

  async function openSession(url: string, origin?: string): Promise<Session> {
    const result = await connect(url, { origin });
    if (!('ws' in result)) throw new Error(`console refused: ${result.status} ${JSON.stringify(result.body)}`);
    return result;
  }

  async function refusal(url: string, headers: { origin?: string; userAgent?: string } = {}): Promise<Refusal> {
    const result = await connect(url, headers);
    if ('ws' in result) {
      result.ws.close();
      throw new Error('the console opened');
    }
    return result;
  }

  const within = <T>(promise: Promise<T>, ms: number) =>
    Promise.race([promise, new Promise<null>((r) => setTimeout(() => r(null), ms))]);

  beforeAll(async () => {
    t = await startTestApp({
      CONSOLE_MAX_SESSIONS_PER_USER: '20',
      CORS_ORIGINS: DASHBOARD,
      AUTH_RATE_LIMIT_PER_MINUTE: String(REFUSAL_LIMIT),
    });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    const images = await request(t.http).get('/api/v1/images').auth(alice.accessToken, { type: 'bearer' }).expect(200);
    const imageId = images.body.items.find(
      (i: { name: string; kind: string }) => i.name === KERNEL_IMAGE_NAME && i.kind === 'kernel',
    ).id;
    const created = await post(alice.accessToken, '/api/v1/vms')
      .send({ name: 'console-streams', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: true })
      .expect(202);
    const op = await request(t.http)
      .get(`${created.headers.location}/wait?timeout=60`)
      .auth(alice.accessToken, { type: 'bearer' })
      .expect(200);
    expect(op.body.status).toBe('succeeded');
    vm = created.body.vm.id;
  });

  afterAll(async () => {
    for (const id of [vm, flooder]) {
      if (!id) continue;
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`);
    }
    await t?.close();
  });

  describe('security 11.4: revocation reaches open consoles', () => {
    const patchUser = (id: string, body: Record<string, unknown>) =>
      request(t.http).patch(`/api/v1/users/${id}`).auth(admin.accessToken, { type: 'bearer' }).send(body).expect(200);

    it('security 11.4: disabling a user closes their open console at once (4001)', async () => {
      const dave = await createUser(t.http, admin.accessToken, 'dave', 'admin');
      const session = await openSession(await ticketUrl(dave.accessToken));
      await patchUser(dave.id, { status: 'disabled' });
      const changed = Date.now();
      const closed = await within(session.closed, 8_000);
      expect(closed).toEqual(expect.objectContaining({ code: 4001, reason: 'access revoked' }));
      console.log(`disabled user's console closed ${closed!.at - changed} ms after the change was answered`);
      expect(closed!.at - changed).toBeLessThan(1_000);
    });

    it('security 11.4: revoking a session closes its open console at once (4001), and refuses its unspent ticket', async () => {
      const grace = await createUser(t.http, admin.accessToken, 'grace', 'admin');
      const stolen = await login(t.http, 'grace', grace.password);
      const sessions = (
        await request(t.http).get('/api/v1/auth/sessions').auth(stolen.accessToken, { type: 'bearer' }).expect(200)
      ).body as Array<{ id: string; current: boolean }>;
      const session = await openSession(await ticketUrl(stolen.accessToken));
      const kept = await openSession(await ticketUrl(grace.accessToken));
      const unspent = await ticketUrl(stolen.accessToken);
      await request(t.http)
        .delete(`/api/v1/auth/sessions/${sessions.find((s) => s.current)!.id}`)
        .auth(grace.accessToken, { type: 'bearer' })
        .expect(204);
      const revoked = Date.now();
      const closed = await within(session.closed, 8_000);
      expect(closed).toEqual(expect.objectContaining({ code: 4001, reason: 'access revoked' }));
      console.log(`revoked session's console closed ${closed!.at - revoked} ms after the revocation was answered`);
      expect(closed!.at - revoked).toBeLessThan(1_000);
      // A ticket requested in the session before it ended no longer opens a console.
      const refused = await refusal(unspent);
      expect(refused.status).toBe(401);
      expect(refused.body.code).toBe('CONSOLE_TICKET_INVALID');
      // The user's other session keeps its console.
      expect(await within(kept.closed, 300)).toBeNull();
      kept.ws.close();
    });

    it('security 11.4: a demoted admin’s console on another user’s VM closes (4001)', async () => {
      const eve = await createUser(t.http, admin.accessToken, 'eve', 'admin');
      const session = await openSession(await ticketUrl(eve.accessToken, 'vnc'));
      await patchUser(eve.id, { role: 'user' });
      const changed = Date.now();
      const closed = await within(session.closed, 8_000);
      expect(closed).toEqual(expect.objectContaining({ code: 4001 }));
      expect(closed!.at - changed).toBeLessThan(1_000);
    });

    it('security 11.4: a console closes when the access token its ticket was requested with expires (4002)', async () => {
      const [{ token_version: version }] = await t.app
        .get(DataSource)
        .query(`SELECT token_version FROM users WHERE id = $1`, [alice.id]);
      // A token as TokenService issues them, with a 4 s lifetime (ACCESS_TOKEN_TTL_SECONDS cannot go below 30).
      const ttlSeconds = 4;
      const token = t.app
        .get(JwtService)
        .sign(
          { sub: alice.id, role: 'user', ver: version },
          { jwtid: randomUUID(), expiresIn: ttlSeconds, algorithm: 'HS256' },
        );
      const issued = Date.now();
      const session = await openSession(await ticketUrl(token));
      const closed = await within(session.closed, (ttlSeconds + 5) * 1000);
      expect(closed).toEqual(expect.objectContaining({ code: 4002, reason: 'access token expired' }));
      console.log(`console closed ${closed!.at - issued} ms after its ${ttlSeconds} s token was issued`);
      expect(closed!.at - issued).toBeGreaterThanOrEqual((ttlSeconds - 1) * 1000);
      expect(closed!.at - issued).toBeLessThan((ttlSeconds + 1) * 1000);
    });
  });

  it('security 11.11: closed serial sessions release their descriptors, and a guest flooding its console reboots to its marker with nobody attached', async () => {
    // The flood mode is part of the tiny guest; an older build lacks it (idempotent).
    execFileSync('bash', [join(__dirname, '..', 'scripts', 'build-test-guest.sh')], { stdio: 'inherit' });
    const image = join(t.data.sandbox.imageDir, FLOOD_IMAGE_NAME);
    mkdirSync(image, { mode: 0o755 });
    for (const file of ['vmlinuz', 'initrd.img']) copyFileSync(join(GUEST_DIR, file), join(image, file));
    writeFileSync(
      join(image, 'cmdline'),
      `${readFileSync(join(GUEST_DIR, 'cmdline'), 'utf8').trim()} limen.flood=${FLOOD_KIB}\n`,
      { mode: 0o644 },
    );
    const images = await post(admin.accessToken, '/api/v1/images/rescan').expect(200);
    const imageId = images.body.items.find(
      (i: { name: string; kind: string }) => i.name === FLOOD_IMAGE_NAME && i.kind === 'kernel',
    ).id;
    const created = await post(alice.accessToken, '/api/v1/vms')
      .send({ name: 'console-flood', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: true })
      .expect(202);
    expect(
      (
        await request(t.http)
          .get(`${created.headers.location}/wait?timeout=60`)
          .auth(alice.accessToken, { type: 'bearer' })
          .expect(200)
      ).body.status,
    ).toBe('succeeded');
    flooder = created.body.vm.id as string;
    const serialLog = vmFiles(t.vmDir, flooder).serialLog;
    const markers = () =>
      existsSync(serialLog) ? readFileSync(serialLog, 'latin1').split(GUEST_MARKER).length - 1 : 0;
    const until = async (what: string, done: () => boolean, timeoutMs: number) => {
      for (const deadline = Date.now() + timeoutMs; !done(); await new Promise((r) => setTimeout(r, 250))) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      }
    };
    await until('the first boot marker', () => markers() === 1, 90_000);

    // Descriptors of this process (the api runs in it): sessions opened and closed leave none behind.
    const descriptors = () => readdirSync('/proc/self/fd').length;
    const baseline = descriptors();
    const sessions = 20;
    for (let i = 0; i < sessions; i++) {
      const session = await openSession(
        (await post(alice.accessToken, `/api/v1/vms/${flooder}/console`).send({ type: 'serial' }).expect(201)).body.url,
      );
      await new Promise((r) => setTimeout(r, 50));
      session.ws.close();
      await session.closed;
    }
    let after = descriptors();
    for (const deadline = Date.now() + 5_000; after > baseline && Date.now() < deadline; after = descriptors())
      await new Promise((r) => setTimeout(r, 100));
    console.log(`descriptors: ${baseline} before ${sessions} serial sessions, ${after} after they closed`);
    expect(after).toBeLessThanOrEqual(baseline);

    // The next boot floods the console with nobody attached: it must not wait for a reader.
    const reset = await post(alice.accessToken, `/api/v1/vms/${flooder}/actions`).send({ action: 'reset' }).expect(202);
    const resetAt = Date.now();
    expect(
      (
        await request(t.http)
          .get(`${reset.headers.location}/wait?timeout=60`)
          .auth(alice.accessToken, { type: 'bearer' })
          .expect(200)
      ).body.status,
    ).toBe('succeeded');
    await until('the boot marker after the reset', () => markers() === 2, 90_000);
    const secondBoot = readFileSync(serialLog, 'latin1').split(GUEST_MARKER)[1];
    const flooded =
      (secondBoot.match(/LIMEN-FLOOD-/g) ?? []).length * 'LIMEN-FLOOD-0123456789abcdef0123456789abcdef\n'.length;
    console.log(
      `second boot: ${Math.round(flooded / 1024)} KiB on the console, marker ${Date.now() - resetAt} ms after the reset request`,
    );
    expect(flooded).toBeGreaterThanOrEqual((FLOOD_KIB - 1) * 1024);
  });

  it('security 11.18: an upgrade from another site’s page is refused (403) before its ticket is spent; this site, CORS_ORIGINS and clients without Origin get in', async () => {
    const url = await ticketUrl(alice.accessToken);
    for (const origin of ['http://evil.example', `http://127.0.0.1.evil.example`, 'null']) {
      const refused = await refusal(url, { origin });
      expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 403, code: 'ORIGIN_NOT_ALLOWED' });
    }
    // The same ticket still opens from this site's own pages: the refusals did not spend it.
    const own = await openSession(url, base);
    own.ws.close();
    const dashboard = await openSession(await ticketUrl(alice.accessToken), DASHBOARD);
    dashboard.ws.close();
    const cli = await openSession(await ticketUrl(alice.accessToken));
    cli.ws.close();
  });

  it('security 11.7: a flood of refused upgrades from one IP is answered 429 past the limit, and the audit trail stays bounded', async () => {
    const db = t.app.get(DataSource);
    const userAgent = `flood-${'A'.repeat(506)}`;
    const statuses: number[] = [];
    let retryAfter: string | string[] | undefined;
    // The trail keeps the first refusal of each (VM, status, code) in an IP's minute: a VM no other
    // case is refused on, so an earlier case's refused ticket cannot be that first row.
    const floodVm = randomUUID();
    const started = Date.now();
    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          refusal(`/api/v1/console/ws/${floodVm}?ticket=${randomBytes(32).toString('base64url')}`, { userAgent }),
        ),
      );
      for (const answer of answers) {
        statuses.push(answer.status);
        if (answer.status === 429) {
          expect(answer.body.code).toBe('RATE_LIMITED');
          retryAfter = answer.headers['retry-after'];
        }
      }
    }
    const counts = { 401: statuses.filter((s) => s === 401).length, 429: statuses.filter((s) => s === 429).length };
    console.log(
      `200 upgrades with random tickets in ${Date.now() - started} ms: ${counts[401]} × 401, ${counts[429]} × 429 (Retry-After ${retryAfter})`,
    );
    expect(counts[401] + counts[429]).toBe(200);
    // The IP's one-minute window may roll over during the flood: at most two windows' worth get through.
    expect(counts[401]).toBeLessThanOrEqual(2 * REFUSAL_LIMIT);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    // Let the audit writes land; then: one row per kind of refusal, the repeats counted when the minute ends.
    await new Promise((r) => setTimeout(r, 500));
    const rows: Array<{ status_code: number; user_agent: string }> = await db.query(
      `SELECT status_code, user_agent FROM audit_log WHERE action = 'console.connect' AND user_agent LIKE 'flood-%'`,
    );
    // One row per kind of refusal (and, across a window's end, its count of repeats): not one per upgrade.
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(rows.length).toBeLessThanOrEqual(6);
    expect(new Set(rows.map((r) => r.status_code))).toEqual(new Set([401, 429]));
    for (const row of rows) expect(row.user_agent).toBe(userAgent.slice(0, 128));
  });
});
