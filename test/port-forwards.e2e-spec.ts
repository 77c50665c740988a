import { createServer, Server } from 'node:net';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { USER_NETWORK_ID } from '../apps/api/src/database/migrations/1764300000000-networks';
import { HostPortProbe } from '../apps/api/src/networks/host-port-probe';
import { KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(300_000);

/**
 * Three ports of a range of our own, away from the default 20000-20999 other test apps use (the
 * bind test keeps us off ports someone else holds anyway).
 */
const BASE = 42000 + Math.floor(Math.random() * 600) * 10;
const RANGE = `${BASE}-${BASE + 2}`;
const probe = new HostPortProbe();
/** Whether something (QEMU's hostfwd) listens on the loopback port. */
const bound = async (port: number, protocol: 'tcp' | 'udp' = 'tcp') =>
  !(await probe.isFree('127.0.0.1', port, protocol));

describe('Port forwards on the real hypervisor (e2e)', () => {
  let t: TestApp;
  let alice: { accessToken: string };
  let bob: { accessToken: string };
  let imageId: string;
  let vmId: string;
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }),
  });

  async function waitOp(token: string, location: string): Promise<{ status: string; error: unknown }> {
    return (await as(token).get(`${location}/wait?timeout=60`).expect(200)).body;
  }

  async function createVm(token: string, name: string, extra: Record<string, unknown> = {}): Promise<string> {
    const res = await as(token)
      .post('/api/v1/vms')
      .send({ name, vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, ...extra });
    expect(res.status).toBe(202);
    expect(await waitOp(token, res.headers.location)).toMatchObject({ status: 'succeeded', error: null });
    return res.body.vm.id;
  }

  async function forward(token: string, id: string, body: Record<string, unknown>) {
    const res = await as(token).post(`/api/v1/vms/${id}/port-forwards`).send(body);
    if (res.status === 202) expect(await waitOp(token, res.headers.location)).toMatchObject({ status: 'succeeded' });
    return res;
  }

  beforeAll(async () => {
    t = await startTestApp({ PORT_FORWARD_RANGE: RANGE });
    const admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    bob = await createUser(t.http, admin.accessToken, 'bob');
    const images = await as(alice.accessToken).get('/api/v1/images').expect(200);
    imageId = images.body.items.find((i: { name: string }) => i.name === KERNEL_IMAGE_NAME).id;
    vmId = await createVm(alice.accessToken, 'forwarded');
  });
  afterAll(async () => {
    for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM vms`)) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`);
    }
    await t.close();
  });

  it('allocates the lowest free port at once, applies it to the running VM, and skips a port another process holds', async () => {
    const res = await forward(alice.accessToken, vmId, { guestPort: 22 });
    expect(res.status).toBe(202);
    expect(res.headers.location).toMatch(/^\/api\/v1\/operations\//);
    const nics = await as(alice.accessToken).get(`/api/v1/vms/${vmId}/nics`).expect(200);
    expect(res.body.portForward).toEqual({
      id: expect.any(String),
      nicId: nics.body.items[0].id,
      protocol: 'tcp',
      guestPort: 22,
      hostAddress: '127.0.0.1',
      hostPort: BASE,
      createdAt: expect.any(String),
    });
    expect(await bound(BASE)).toBe(true);

    // Another process holds BASE+1: the next forward gets BASE+2.
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(BASE + 1, '127.0.0.1', resolve));
    try {
      const next = await forward(alice.accessToken, vmId, { guestPort: 80 });
      expect(next.body.portForward.hostPort).toBe(BASE + 2);
      // The range is used up (for tcp): 409 PORT_RANGE_EXHAUSTED, and nothing is kept.
      expectProblem(await forward(alice.accessToken, vmId, { guestPort: 443 }), 409, 'PORT_RANGE_EXHAUSTED');
    } finally {
      squatter.close();
    }
    const udp = await forward(alice.accessToken, vmId, { guestPort: 53, protocol: 'udp' });
    expect(udp.body.portForward).toMatchObject({ protocol: 'udp', hostPort: BASE });
    const list = await as(alice.accessToken).get(`/api/v1/vms/${vmId}/port-forwards`).expect(200);
    expect(list.body.items.map((f: { protocol: string; guestPort: number }) => `${f.protocol}/${f.guestPort}`)).toEqual(
      ['tcp/22', 'tcp/80', 'udp/53'],
    );
    const nicList = (await as(alice.accessToken).get(`/api/v1/vms/${vmId}/nics`).expect(200)).body.items;
    expect(nicList[0].portForwards).toEqual(list.body.items);
  });

  it('refuses a guest port forwarded twice (409) and bad bodies (400)', async () => {
    expectProblem(await forward(alice.accessToken, vmId, { guestPort: 22 }), 409, 'CONFLICT');
    for (const body of [
      { guestPort: 0 },
      { guestPort: 70000 },
      { guestPort: 22, protocol: 'icmp' },
      { guestPort: '22' },
      {},
    ]) {
      expectProblem(await forward(alice.accessToken, vmId, body), 400, 'VALIDATION_FAILED');
    }
    expectProblem(
      await forward(alice.accessToken, vmId, { guestPort: 2222, nicId: '5d2f1a8e-7c3b-4e9a-9f1d-2b6c8e4a7f30' }),
      404,
      'NOT_FOUND',
    );
  });

  it("hides another user's VM and forwards (404)", async () => {
    const [mine] = (await as(alice.accessToken).get(`/api/v1/vms/${vmId}/port-forwards`)).body.items;
    expectProblem(await as(bob.accessToken).get(`/api/v1/vms/${vmId}/port-forwards`), 404, 'NOT_FOUND');
    expectProblem(await forward(bob.accessToken, vmId, { guestPort: 8080 }), 404, 'NOT_FOUND');
    expectProblem(await as(bob.accessToken).delete(`/api/v1/vms/${vmId}/port-forwards/${mine.id}`), 404, 'NOT_FOUND');
    const bobsVm = await createVm(bob.accessToken, 'bobs', { start: false });
    expectProblem(await as(bob.accessToken).delete(`/api/v1/vms/${bobsVm}/port-forwards/${mine.id}`), 404, 'NOT_FOUND');
    expect(await bound(mine.hostPort)).toBe(true);
  });

  it('delete frees the port (the next forward gets it again); deleting the VM frees all of its ports', async () => {
    const items = (await as(alice.accessToken).get(`/api/v1/vms/${vmId}/port-forwards`)).body.items;
    const http = items.find((f: { guestPort: number }) => f.guestPort === 80);
    const res = await as(alice.accessToken).delete(`/api/v1/vms/${vmId}/port-forwards/${http.id}`).expect(202);
    expect(res.body.portForward.id).toBe(http.id);
    expect(await waitOp(alice.accessToken, res.headers.location)).toMatchObject({ status: 'succeeded' });
    expect(http.hostPort).toBe(BASE + 2);
    expect(await bound(BASE + 2)).toBe(false);
    // Lowest first: BASE+1 (free since its squatter left), then the freed BASE+2 again.
    const ports = [];
    for (const guestPort of [8080, 8443])
      ports.push((await forward(alice.accessToken, vmId, { guestPort })).body.portForward.hostPort);
    expect(ports).toEqual([BASE + 1, BASE + 2]);
    expect(await bound(BASE + 2)).toBe(true);

    const gone = await as(alice.accessToken).delete(`/api/v1/vms/${vmId}`).expect(202);
    expect(await waitOp(alice.accessToken, gone.headers.location)).toMatchObject({ status: 'succeeded' });
    expect(await t.app.get(DataSource).query(`SELECT id FROM port_forwards WHERE vm_id = $1`, [vmId])).toEqual([]);
    for (const port of [BASE, BASE + 1, BASE + 2]) expect(await bound(port)).toBe(false);
  });

  it('takes forwards with a NIC at create: allocated in the request, the VM boots with them', async () => {
    const id = await createVm(alice.accessToken, 'born-forwarded', {
      nics: [{ networkId: USER_NETWORK_ID, portForwards: [{ guestPort: 22 }] }],
    });
    const list = await as(alice.accessToken).get(`/api/v1/vms/${id}/port-forwards`).expect(200);
    expect(list.body.items).toEqual([
      expect.objectContaining({ guestPort: 22, hostPort: BASE, hostAddress: '127.0.0.1' }),
    ]);
    // The domain was defined with it: QEMU listens on the port from its first boot.
    expect(await bound(BASE)).toBe(true);
  });

  it('gives requests at the same moment different ports', async () => {
    const [a, b] = [
      await createVm(alice.accessToken, 'race-a', { start: false }),
      await createVm(alice.accessToken, 'race-b', { start: false }),
    ];
    const answers = await Promise.all(
      [a, b].map((id) => as(alice.accessToken).post(`/api/v1/vms/${id}/port-forwards`).send({ guestPort: 22 })),
    );
    expect(answers.map((res) => res.status)).toEqual([202, 202]);
    expect(answers.map((res) => res.body.portForward.hostPort).sort()).toEqual([BASE + 1, BASE + 2]);
    for (const res of answers)
      expect(await waitOp(alice.accessToken, res.headers.location)).toMatchObject({ status: 'succeeded' });
  });

  it("frees a NIC's forwards with the NIC, and a VM's with the VM", async () => {
    const [raceA] = (await t.app.get(DataSource).query(`SELECT id FROM vms WHERE name = 'race-a'`)) as Array<{
      id: string;
    }>;
    const gone = await as(alice.accessToken).delete(`/api/v1/vms/${raceA.id}`).expect(202);
    expect(await waitOp(alice.accessToken, gone.headers.location)).toMatchObject({ status: 'succeeded' });
    const id = await createVm(alice.accessToken, 'two-nics', {
      start: false,
      nics: [{ networkId: USER_NETWORK_ID }, { networkId: USER_NETWORK_ID, portForwards: [{ guestPort: 22 }] }],
    });
    const [forwarded] = (await as(alice.accessToken).get(`/api/v1/vms/${id}/port-forwards`).expect(200)).body.items;
    const nics = (await as(alice.accessToken).get(`/api/v1/vms/${id}/nics`).expect(200)).body.items;
    expect(forwarded).toMatchObject({ nicId: nics[1].id });
    const unplug = await as(alice.accessToken).delete(`/api/v1/vms/${id}/nics/${nics[1].id}`).expect(202);
    expect(await waitOp(alice.accessToken, unplug.headers.location)).toMatchObject({ status: 'succeeded' });
    expect((await as(alice.accessToken).get(`/api/v1/vms/${id}/port-forwards`).expect(200)).body.items).toEqual([]);
    // Its port is free for the next forward.
    const next = await forward(alice.accessToken, id, { guestPort: 80 });
    expect(next.body.portForward.hostPort).toBe(forwarded.hostPort);
  });
});
