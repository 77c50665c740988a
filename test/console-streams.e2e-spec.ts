import { JwtService } from '@nestjs/jwt';
import { randomUUID } from 'node:crypto';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { WebSocket } from 'ws';
import { KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(240_000);

interface Session {
  ws: WebSocket;
  closed: Promise<{ code: number; reason: string; at: number }>;
}

/** Console WebSockets against abuse and revocation (the console's own behaviour: console.e2e-spec.ts). */
describe('console sessions: revocation and upgrade abuse (e2e, real guest)', () => {
  let t: TestApp;
  let base: string;
  let admin: { accessToken: string };
  let alice: { id: string; accessToken: string };
  let vm: string;
  const post = (token: string, path: string) => request(t.http).post(path).auth(token, { type: 'bearer' });

  async function ticketUrl(token: string, type: 'vnc' | 'serial' = 'serial'): Promise<string> {
    return (await post(token, `/api/v1/vms/${vm}/console`).send({ type }).expect(201)).body.url;
  }

  function openSession(url: string): Promise<Session> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(base.replace(/^http/, 'ws') + url);
      const closed = new Promise<{ code: number; reason: string; at: number }>((done) => ws.once('close', (code, reason) => done({ code, reason: reason.toString(), at: Date.now() })));
      ws.once('open', () => resolve({ ws, closed }));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`console refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  const within = <T>(promise: Promise<T>, ms: number) => Promise.race([promise, new Promise<null>((r) => setTimeout(() => r(null), ms))]);

  beforeAll(async () => {
    t = await startTestApp({ CONSOLE_MAX_SESSIONS_PER_USER: '20' });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    const images = await request(t.http).get('/api/v1/images').auth(alice.accessToken, { type: 'bearer' }).expect(200);
    const imageId = images.body.items.find((i: { name: string; kind: string }) => i.name === KERNEL_IMAGE_NAME && i.kind === 'kernel').id;
    const created = await post(alice.accessToken, '/api/v1/vms').send({ name: 'console-streams', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: true }).expect(202);
    const op = await request(t.http).get(`${created.headers.location}/wait?timeout=60`).auth(alice.accessToken, { type: 'bearer' }).expect(200);
    expect(op.body.status).toBe('succeeded');
    vm = created.body.vm.id;
  });

  afterAll(async () => {
    if (vm) {
      virsh('destroy', `limen-${vm}`);
      virsh('undefine', `limen-${vm}`);
    }
    await t?.close();
  });

  describe('security 11.4: revocation reaches open consoles', () => {
    const patchUser = (id: string, body: Record<string, unknown>) => request(t.http).patch(`/api/v1/users/${id}`).auth(admin.accessToken, { type: 'bearer' }).send(body).expect(200);

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
      const [{ token_version: version }] = await t.app.get(DataSource).query(`SELECT token_version FROM users WHERE id = $1`, [alice.id]);
      // A token as TokenService issues them, with a 4 s lifetime (ACCESS_TOKEN_TTL_SECONDS cannot go below 30).
      const ttlSeconds = 4;
      const token = t.app.get(JwtService).sign({ sub: alice.id, role: 'user', ver: version }, { jwtid: randomUUID(), expiresIn: ttlSeconds, algorithm: 'HS256' });
      const issued = Date.now();
      const session = await openSession(await ticketUrl(token));
      const closed = await within(session.closed, (ttlSeconds + 5) * 1000);
      expect(closed).toEqual(expect.objectContaining({ code: 4002, reason: 'access token expired' }));
      console.log(`console closed ${closed!.at - issued} ms after its ${ttlSeconds} s token was issued`);
      expect(closed!.at - issued).toBeGreaterThanOrEqual((ttlSeconds - 1) * 1000);
      expect(closed!.at - issued).toBeLessThan((ttlSeconds + 1) * 1000);
    });
  });
});
