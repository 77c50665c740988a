import { JwtService } from '@nestjs/jwt';
import { randomUUID } from 'node:crypto';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { txOf } from '../apps/api/src/database/transaction';
import { EventsService } from '../apps/api/src/events/events.service';
import { KERNEL_IMAGE_NAME, openEventStream, SseEvent, virsh } from './support/hypervisor';
import { operationHelpers } from './support/operations';
import { sendRaw } from './support/raw-request';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(120_000);

const HEARTBEAT_SECONDS = 1;
const MAX_PER_USER = 3;
const MAX_TOTAL = 5;

/** The SSE stream itself (GET /api/v1/events): ids, resume, limits and revocation. */
describe('event streams (e2e)', () => {
  let t: TestApp;
  let base: string;
  let admin: { accessToken: string };
  let alice: { id: string; accessToken: string };
  let bob: { id: string; accessToken: string };

  /** Persists and fans out one event about `vmId`, as the services do, and returns its id. */
  async function publish(ownerId: string, n: number, vmId: string = randomUUID()): Promise<string> {
    const events = t.app.get(EventsService);
    const record = await events.append(txOf(t.app.get(DataSource).manager), {
      type: 'vm.state',
      ownerId,
      vmId,
      payload: { vmId, state: 'running', stateReason: null, version: n },
    });
    events.announce([record]);
    return record.id;
  }

  /** The id an EventSource would send as Last-Event-ID: the last `id` field it received. */
  const lastIdOf = (events: SseEvent[]) => [...events].reverse().find((e) => e.id !== undefined)?.id;
  const realEvents = (events: SseEvent[]) => events.filter((e) => e.type !== 'heartbeat');

  beforeAll(async () => {
    t = await startTestApp({
      SSE_HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS),
      SSE_MAX_STREAMS_PER_USER: String(MAX_PER_USER),
      SSE_MAX_STREAMS: String(MAX_TOTAL),
    });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    bob = await createUser(t.http, admin.accessToken, 'bob');
  });

  afterAll(async () => {
    // The VMs made here are defined on the shared libvirtd: leave none behind.
    for (const { id } of (await t?.app.get(DataSource).query(`SELECT id FROM vms`)) ?? [])
      virsh('undefine', `limen-${id}`, '--nvram');
    await t?.close();
  });

  it('security 11.12: heartbeats carry no id, and a resume from the last id received gets exactly the missed events', async () => {
    // Real ids well above a per-connection counter's 1, 2, 3…
    for (let n = 0; n < 5; n++) await publish(alice.id, n);
    const first = await openEventStream(base, alice.accessToken);
    expect((await first.waitFor((e) => e.type === 'heartbeat', 5_000)).id).toBeUndefined();
    const seen = await publish(alice.id, 100);
    const delivered = await first.waitFor((e) => e.id === seen, 5_000);
    // An idle stream: heartbeats after the event, which must leave the client's last id alone.
    await first.waitFor(
      (e) => e.type === 'heartbeat' && e.receivedAt > delivered.receivedAt,
      (HEARTBEAT_SECONDS + 3) * 1000,
    );
    first.close();
    const heartbeats = first.events.filter((e) => e.type === 'heartbeat');
    expect(heartbeats.length).toBeGreaterThanOrEqual(2);
    expect(heartbeats.map((e) => e.id)).toEqual(heartbeats.map(() => undefined));
    expect(lastIdOf(first.events)).toBe(seen);

    const missed = [await publish(alice.id, 101), await publish(bob.id, 102), await publish(alice.id, 103)];
    const resumed = await openEventStream(base, alice.accessToken, lastIdOf(first.events));
    await resumed.waitFor((e) => e.id === missed[2], 5_000);
    await new Promise((r) => setTimeout(r, 300));
    resumed.close();
    expect(realEvents(resumed.events).map((e) => e.id)).toEqual([missed[0], missed[2]]);
  });

  it('security 11.12: a resume after more than a page of missed events gets every one, in order, once', async () => {
    const from = await publish(alice.id, 0);
    // 2,500 events committed while the client was away (bob's in between: not alice's to see).
    await t.app
      .get(DataSource)
      .query(
        `INSERT INTO events (type, owner_id, payload) SELECT 'vm.state', CASE WHEN g % 5 = 0 THEN $2::uuid ELSE $1::uuid END, jsonb_build_object('n', g) FROM generate_series(1, 2500) g`,
        [alice.id, bob.id],
      );
    const expected: Array<{ id: string }> = await t.app
      .get(DataSource)
      .query(`SELECT id::text AS id FROM events WHERE id > $1 AND owner_id = $2 ORDER BY events.id`, [from, alice.id]);
    expect(expected).toHaveLength(2000);
    const resumed = await openEventStream(base, alice.accessToken, from);
    const last = expected[expected.length - 1].id;
    await resumed.waitFor((e) => e.id === last, 20_000);
    const live = await publish(alice.id, 9999);
    await resumed.waitFor((e) => e.id === live, 5_000);
    resumed.close();
    expect(realEvents(resumed.events).map((e) => e.id)).toEqual([...expected.map((e) => e.id), live]);
  });

  it(`security 11.9: streams are capped at ${MAX_PER_USER} per user and ${MAX_TOTAL} in all (429 TOO_MANY_STREAMS, Retry-After), and a closed stream frees its slot`, async () => {
    const refusal = async (token: string) => {
      const res = await sendRaw(
        base,
        {
          method: 'GET',
          path: '/api/v1/events',
          headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        },
        10_000,
      );
      expect({ status: res.status, streamed: res.streamed }).toEqual({ status: 429, streamed: false });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      return JSON.parse(res.text) as { code: string; limit: number };
    };
    const carol = await createUser(t.http, admin.accessToken, 'carol');
    const streams = [];
    for (let i = 0; i < MAX_PER_USER; i++) streams.push(await openEventStream(base, alice.accessToken));
    expect(await refusal(alice.accessToken)).toEqual(
      expect.objectContaining({ code: 'TOO_MANY_STREAMS', limit: MAX_PER_USER }),
    );
    // The total: bob takes the last two slots, and carol, who holds none, is refused.
    for (let i = 0; i < MAX_TOTAL - MAX_PER_USER; i++) streams.push(await openEventStream(base, bob.accessToken));
    expect(await refusal(carol.accessToken)).toEqual(
      expect.objectContaining({ code: 'TOO_MANY_STREAMS', limit: MAX_TOTAL }),
    );
    // The streams still open keep working.
    const id = await publish(alice.id, 1);
    await Promise.all(streams.slice(0, MAX_PER_USER).map((s) => s.waitFor((e) => e.id === id, 5_000)));

    // Closing one of alice's frees a slot for her (the server notices the close within moments).
    streams.shift()!.close();
    const deadline = Date.now() + 5_000;
    let again: Awaited<ReturnType<typeof openEventStream>> | undefined;
    while (!again && Date.now() < deadline)
      again = await openEventStream(base, alice.accessToken).catch(() => undefined);
    expect(again).toBeDefined();
    streams.push(again!);
    for (const stream of streams) stream.close();
  });

  describe('vmId: one VM’s events', () => {
    let vmId: string;
    const asAlice = () => ({
      get: (path: string) => request(t.http).get(path).auth(alice.accessToken, { type: 'bearer' }),
      post: (path: string) => request(t.http).post(path).auth(alice.accessToken, { type: 'bearer' }),
    });
    let imageId = '';
    const { createVm } = operationHelpers(asAlice, () => imageId);
    // A stream that opened (200) would never end: the timeout fails such a test at once.
    const refusal = (token: string, query: Record<string, string>) =>
      request(t.http)
        .get('/api/v1/events')
        .query(query)
        .auth(token, { type: 'bearer' })
        .set('Last-Event-ID', '0')
        .timeout(10_000);

    beforeAll(async () => {
      const images = await asAlice().get('/api/v1/images').expect(200);
      imageId = images.body.items.find((i: { name: string }) => i.name === KERNEL_IMAGE_NAME).id;
      // A real VM (defined, not started): its create logged vm.created, operation.updated and vm.state events.
      vmId = await createVm('events-of-one-vm', false);
    });

    it('replays the VM’s retained events and then follows its live ones, and no other events', async () => {
      const db = t.app.get(DataSource);
      await publish(alice.id, 1); // another VM of alice's
      await publish(bob.id, 2, vmId); // about her VM but bob's: the owner rule still holds beside vmId
      const [{ last }] = await db.query(`SELECT max(id)::text AS last FROM events WHERE vm_id = $1 AND owner_id = $2`, [
        vmId,
        alice.id,
      ]);
      const stream = await openEventStream(base, alice.accessToken, '0', vmId);
      const admins = await openEventStream(base, admin.accessToken, '0', vmId);
      await stream.waitFor((e) => e.id === last, 5_000);
      // Live, after the replay: alice's other VM, bob's event, then this VM's.
      await publish(alice.id, 3);
      await publish(bob.id, 4);
      const live = await publish(alice.id, 5, vmId);
      await Promise.all([stream, admins].map((s) => s.waitFor((e) => e.id === live, 5_000)));
      await new Promise((r) => setTimeout(r, 300));
      stream.close();
      admins.close();

      const ofVm = async (ownerOnly: boolean): Promise<string[]> =>
        (
          await db.query(
            `SELECT id::text AS id FROM events WHERE vm_id = $1 AND id <= $2 ${ownerOnly ? 'AND owner_id = $3' : ''} ORDER BY events.id`,
            ownerOnly ? [vmId, live, alice.id] : [vmId, live],
          )
        ).map((e: { id: string }) => e.id);
      const received = realEvents(stream.events);
      expect(received.map((e) => e.id)).toEqual(await ofVm(true));
      expect(received.map((e) => e.type)).toEqual(expect.arrayContaining(['vm.created', 'operation.updated']));
      expect(received.every((e) => e.data.vmId === vmId || e.data.id === vmId)).toBe(true);
      // An admin may ask for anyone's VM, and gets all of its events.
      expect(realEvents(admins.events).map((e) => e.id)).toEqual(await ofVm(false));
    });

    it('someone else’s VM is refused as a VM that does not exist is: 404, and nothing streamed', async () => {
      const theirs = await refusal(bob.accessToken, { vmId });
      const missing = await refusal(bob.accessToken, { vmId: randomUUID() });
      expectProblem(theirs, 404, 'NOT_FOUND');
      expectProblem(missing, 404, 'NOT_FOUND');
      const { requestId: _a, ...theirsBody } = theirs.body;
      const { requestId: _b, ...missingBody } = missing.body;
      expect(theirsBody).toEqual(missingBody);
    });

    it('a vmId that is not a UUID is 400 VALIDATION_FAILED', async () => {
      for (const bad of ['not-a-uuid', '', `${randomUUID()}x`]) {
        const res = await refusal(alice.accessToken, { vmId: bad });
        expectProblem(res, 400, 'VALIDATION_FAILED');
        expect(res.body.errors).toEqual([expect.objectContaining({ field: 'vmId' })]);
      }
    });
  });

  describe('security 11.4: revocation reaches open streams', () => {
    const patchUser = (id: string, body: Record<string, unknown>) =>
      request(t.http).patch(`/api/v1/users/${id}`).auth(admin.accessToken, { type: 'bearer' }).send(body).expect(200);

    it('security 11.4: disabling a user ends their open stream at once', async () => {
      const dave = await createUser(t.http, admin.accessToken, 'dave');
      const stream = await openEventStream(base, dave.accessToken);
      await stream.waitFor((e) => e.type === 'heartbeat', 5_000);
      await patchUser(dave.id, { status: 'disabled' });
      const changed = Date.now();
      const ended = await Promise.race([stream.ended, new Promise<number>((r) => setTimeout(() => r(-1), 8_000))]);
      stream.close();
      expect(ended).toBeGreaterThan(0);
      console.log(`disabled user's stream ended ${ended - changed} ms after the change was answered`);
      expect(ended - changed).toBeLessThan(1_000);
      const after = await publish(dave.id, 1);
      expect(stream.events.map((e) => e.id)).not.toContain(after);
    });

    it('security 11.4: revoking a session (DELETE /auth/sessions/{id}) ends its open stream at once, and no other session’s', async () => {
      const grace = await createUser(t.http, admin.accessToken, 'grace');
      const stolen = await login(t.http, 'grace', grace.password);
      const sessions = (
        await request(t.http).get('/api/v1/auth/sessions').auth(stolen.accessToken, { type: 'bearer' }).expect(200)
      ).body as Array<{ id: string; current: boolean }>;
      const stolenSession = sessions.find((s) => s.current)!.id;
      const stream = await openEventStream(base, stolen.accessToken);
      const kept = await openEventStream(base, grace.accessToken);
      await stream.waitFor((e) => e.type === 'heartbeat', 5_000);
      await kept.waitFor((e) => e.type === 'heartbeat', 5_000);
      await request(t.http)
        .delete(`/api/v1/auth/sessions/${stolenSession}`)
        .auth(grace.accessToken, { type: 'bearer' })
        .expect(204);
      const revoked = Date.now();
      const ended = await Promise.race([stream.ended, new Promise<number>((r) => setTimeout(() => r(-1), 8_000))]);
      stream.close();
      expect(ended).toBeGreaterThan(0);
      console.log(`revoked session's stream ended ${ended - revoked} ms after the revocation was answered`);
      expect(ended - revoked).toBeLessThan(1_000);
      // The user's other session keeps its stream, and it still carries their events.
      const after = await publish(grace.id, 1);
      await kept.waitFor((e) => e.id === after, 5_000);
      kept.close();
      expect(stream.events.map((e) => e.id)).not.toContain(after);
    });

    it('security 11.4: a demoted admin’s stream ends, and stops carrying other users’ events', async () => {
      const eve = await createUser(t.http, admin.accessToken, 'eve', 'admin');
      const stream = await openEventStream(base, eve.accessToken);
      const before = await publish(bob.id, 1);
      await stream.waitFor((e) => e.id === before, 5_000); // an admin sees bob's events
      await patchUser(eve.id, { role: 'user' });
      const changed = Date.now();
      const ended = await Promise.race([stream.ended, new Promise<number>((r) => setTimeout(() => r(-1), 8_000))]);
      const after = await publish(bob.id, 2);
      await new Promise((r) => setTimeout(r, 300));
      stream.close();
      expect(ended).toBeGreaterThan(0);
      console.log(`demoted admin's stream ended ${ended - changed} ms after the change was answered`);
      expect(ended - changed).toBeLessThan(1_000);
      expect(stream.events.map((e) => e.id)).not.toContain(after);
    });

    it('security 11.4: a stream ends when the access token it was opened with expires', async () => {
      const frank = await createUser(t.http, admin.accessToken, 'frank');
      const [{ token_version: version }] = await t.app
        .get(DataSource)
        .query(`SELECT token_version FROM users WHERE id = $1`, [frank.id]);
      // A token as TokenService issues them, with a 3 s lifetime (ACCESS_TOKEN_TTL_SECONDS cannot go below 30).
      const ttlSeconds = 3;
      const token = t.app
        .get(JwtService)
        .sign(
          { sub: frank.id, role: 'user', ver: version },
          { jwtid: randomUUID(), expiresIn: ttlSeconds, algorithm: 'HS256' },
        );
      const issued = Date.now();
      const stream = await openEventStream(base, token);
      const ended = await Promise.race([
        stream.ended,
        new Promise<number>((r) => setTimeout(() => r(-1), (ttlSeconds + 5) * 1000)),
      ]);
      stream.close();
      expect(ended).toBeGreaterThan(0);
      console.log(`stream ended ${ended - issued} ms after its ${ttlSeconds} s token was issued`);
      // JWT expiry has one-second resolution.
      expect(ended - issued).toBeGreaterThanOrEqual((ttlSeconds - 1) * 1000);
      expect(ended - issued).toBeLessThan((ttlSeconds + 1) * 1000);
    });
  });
});
