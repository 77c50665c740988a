import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { AddressInfo, createConnection, createServer, Server, Socket } from 'node:net';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { HostMonitor } from '../apps/api/src/hosts/host-monitor';
import { startAgent } from './support/agent-process';
import { domainExists, GUEST_MARKER, KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(180_000);

const LIBVIRT_SOCKET = '/var/run/libvirt/libvirt-sock';

/**
 * A loopback TCP relay to libvirtd's unix socket that the test can cut: a "remote" host
 * (qemu+tcp://127.0.0.1:<port>/system) that can go down, and come back on the same port.
 */
async function libvirtRelay(port = 0): Promise<{ server: Server; port: number; cut: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection(LIBVIRT_SOCKET);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    cut: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Several hypervisor hosts on one machine: the local libvirt host, a qemu-direct
 * host (QEMU without libvirt), and a libvirt host reached through a relay the
 * test can cut to make it go down.
 */
describe('hosts and placement (e2e)', () => {
  let t: TestApp;
  let admin: string;
  let imageId: string;
  let workDir: string;
  const asAdmin = () => ({ Authorization: `Bearer ${admin}` });
  const waitOp = async (location: string) =>
    (await request(t.http).get(`${location}/wait?timeout=60`).set(asAdmin()).expect(200)).body;
  const until = async (what: string, probe: () => Promise<boolean>, ms: number) => {
    const deadline = Date.now() + ms;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  beforeAll(async () => {
    t = await startTestApp({ ALERT_EVAL_INTERVAL_SECONDS: '1', AGENT_URL: 'http://127.0.0.1:9' });
    admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    imageId = (await request(t.http).get('/api/v1/images').set(asAdmin())).body.items.find(
      (i: { name: string }) => i.name === KERNEL_IMAGE_NAME,
    ).id;
    workDir = join(t.data.sandbox.vmDir, '..', 'hosts');
    mkdirSync(workDir, { recursive: true, mode: 0o755 });
  });
  afterAll(async () => {
    for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM vms`)) {
      const del = await request(t.http).delete(`/api/v1/vms/${id}`).set(asAdmin());
      if (del.status === 202) await waitOp(del.headers.location).catch(() => undefined);
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`);
    }
    await t.close();
  });

  it('registers the local host on first start, and keeps hosts for admins', async () => {
    const hosts = (await request(t.http).get('/api/v1/hosts').set(asAdmin()).expect(200)).body.items;
    expect(hosts).toEqual([
      expect.objectContaining({
        adapter: 'libvirt',
        libvirtUri: 'qemu:///system',
        status: 'up',
        enabled: true,
        cpus: expect.any(Number),
        memoryMiB: expect.any(Number),
      }),
    ]);
    const user = await createUser(t.http, admin, 'hostless');
    expectProblem(
      await request(t.http).get('/api/v1/hosts').set('Authorization', `Bearer ${user.accessToken}`),
      403,
      'FORBIDDEN',
    );
    expectProblem(
      await request(t.http)
        .post('/api/v1/vms')
        .set('Authorization', `Bearer ${user.accessToken}`)
        .send({ name: 'pick', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId, hostId: hosts[0].id }),
      403,
      'FORBIDDEN',
    );
    expectProblem(
      await request(t.http)
        .post('/api/v1/hosts')
        .set(asAdmin())
        .send({ name: 'bad', adapter: 'libvirt', libvirtUri: "qemu:///system'; rm -rf /" }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await request(t.http).post('/api/v1/hosts').set(asAdmin()).send({ name: 'bad', adapter: 'qemu-direct' }),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('security 11.2: a libvirtUri whose query names a program or a file is refused, nothing is stored, and a stored one is never used', async () => {
    const marker = join(workDir, 'uri-payload-ran');
    const payload = join(workDir, 'uri-payload.sh');
    writeFileSync(payload, `#!/bin/sh\ntouch '${marker}'\n`, { mode: 0o755 });
    const hostCount = async () =>
      (await t.app.get(DataSource).query(`SELECT count(*)::int AS n FROM hosts`))[0].n as number;
    const before = await hostCount();
    for (const libvirtUri of [
      `qemu+ssh://root@127.0.0.1:1/system?command=${payload}`,
      `qemu+ssh://root@127.0.0.1:1/system?%63ommand=${payload}`,
      `qemu+ssh://root@127.0.0.1:1/system?no_tty=1&command=${payload}`,
      `qemu+ssh://root@127.0.0.1:1/system?netcat=${payload}`,
      `qemu:///system?socket=${LIBVIRT_SOCKET}`,
      `qemu+ssh://root@127.0.0.1:1/system#?command=${payload}`,
    ]) {
      const res = await request(t.http)
        .post('/api/v1/hosts')
        .set(asAdmin())
        .send({ name: 'hostile', adapter: 'libvirt', libvirtUri });
      expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(res.text).not.toContain(payload);
    }
    const local = (await request(t.http).get('/api/v1/hosts').set(asAdmin())).body.items[0];
    expectProblem(
      await request(t.http)
        .patch(`/api/v1/hosts/${local.id}`)
        .set(asAdmin())
        .send({ libvirtUri: `qemu:///system?command=${payload}` }),
      400,
      'VALIDATION_FAILED',
    );
    expect(await hostCount()).toBe(before);

    // A row written before this rule (or by hand) is refused where virsh would start: the host is down, the program never runs.
    const [{ id }] = await t.app
      .get(DataSource)
      .query(`INSERT INTO hosts (name, adapter, libvirt_uri) VALUES ('stored-hostile', 'libvirt', $1) RETURNING id`, [
        `qemu+ssh://root@127.0.0.1:1/system?command=${payload}`,
      ]);
    await t.app.get(HostMonitor).check();
    const stored = (await request(t.http).get(`/api/v1/hosts/${id}`).set(asAdmin()).expect(200)).body;
    expect(stored).toEqual(
      expect.objectContaining({
        status: 'down',
        statusReason: expect.stringMatching(/^The libvirt URI may only carry/),
      }),
    );
    await request(t.http).delete(`/api/v1/hosts/${id}`).set(asAdmin()).expect(204);
    expect(existsSync(marker)).toBe(false);
  });

  it("shows each host's storage pools: read live on GET /hosts/{id}, as last recorded in the list", async () => {
    const local = (await request(t.http).get('/api/v1/hosts').set(asAdmin())).body.items[0];
    const live = (await request(t.http).get(`/api/v1/hosts/${local.id}`).set(asAdmin()).expect(200)).body;
    const vmPool = live.storagePools.find((p: { path: string }) => p.path === t.data.sandbox.vmDir);
    expect(vmPool).toEqual({
      name: expect.stringMatching(/^limen-/),
      type: 'dir',
      path: t.data.sandbox.vmDir,
      active: true,
      capacityBytes: expect.any(Number),
      allocationBytes: expect.any(Number),
      availableBytes: expect.any(Number),
    });
    expect(vmPool.capacityBytes).toBeGreaterThan(0);
    expect(vmPool.availableBytes).toBeGreaterThan(0);
    expect(vmPool.availableBytes).toBeLessThanOrEqual(vmPool.capacityBytes);
    expect(live).toEqual(expect.objectContaining({ storagePath: t.data.sandbox.vmDir, storageProblem: null }));
    expect(Date.parse(live.storageCheckedAt)).toBeGreaterThan(Date.now() - 10_000);
    // The monitor's reading, in the list.
    expect(local.storagePools.map((p: { path: string }) => p.path)).toContain(t.data.sandbox.vmDir);
  });

  it('refuses a storagePath outside STORAGE_ROOTS, and a qemu-direct host elsewhere, storing nothing', async () => {
    const hostCount = async () =>
      (await t.app.get(DataSource).query(`SELECT count(*)::int AS n FROM hosts`))[0].n as number;
    const before = await hostCount();
    const remote = { adapter: 'libvirt', libvirtUri: 'qemu+tls://hv-9.invalid/system' };
    for (const storagePath of [
      '/etc',
      '/var/lib/limen/../../etc',
      'relative/pool',
      '/var/lib/limenx/pool',
      "/var/lib/limen/p'/><source dir='/etc",
      `/var/lib/limen/${'a'.repeat(5000)}`,
    ]) {
      const res = await request(t.http)
        .post('/api/v1/hosts')
        .set(asAdmin())
        .send({ name: 'outside', ...remote, storagePath });
      expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(res.body.errors).toEqual([expect.objectContaining({ field: 'storagePath' })]);
    }
    // Fixed once registered: not a field of PATCH.
    const local = (await request(t.http).get('/api/v1/hosts').set(asAdmin())).body.items[0];
    expectProblem(
      await request(t.http).patch(`/api/v1/hosts/${local.id}`).set(asAdmin()).send({ storagePath: '/var/lib/limen/x' }),
      400,
      'VALIDATION_FAILED',
    );
    expect(local.storagePath).toBe(t.data.sandbox.vmDir);

    const elsewhere = await request(t.http)
      .post('/api/v1/hosts')
      .set(asAdmin())
      .send({
        name: 'direct-elsewhere',
        adapter: 'qemu-direct',
        stateDir: join(workDir, 'qemu-elsewhere'),
        agentUrl: 'http://192.0.2.7:9000',
        agentToken: 'a-token-for-this-host',
      });
    expectProblem(elsewhere, 400, 'VALIDATION_FAILED');
    expect(elsewhere.body.errors).toEqual([
      { field: 'agentUrl', messages: [expect.stringMatching(/qemu\+ssh:\/\/ or qemu\+tls:\/\//)] },
    ]);
    expect(await hostCount()).toBe(before);

    // Inside a root: stored as given; without one, the default under the first root.
    const inside = await request(t.http)
      .post('/api/v1/hosts')
      .set(asAdmin())
      .send({ name: 'inside', ...remote, storagePath: '/var/lib/limen/pools/hv-9', enabled: false })
      .expect(201);
    expect(inside.body.storagePath).toBe('/var/lib/limen/pools/hv-9');
    const defaulted = await request(t.http)
      .post('/api/v1/hosts')
      .set(asAdmin())
      .send({ name: 'defaulted', ...remote, enabled: false })
      .expect(201);
    expect(defaulted.body.storagePath).toBe('/var/lib/limen/pool');
    for (const id of [inside.body.id, defaulted.body.id])
      await request(t.http).delete(`/api/v1/hosts/${id}`).set(asAdmin()).expect(204);
  });

  it('places VMs on a libvirt host and a qemu-direct host: by admin choice, and by the scheduler around maintenance', async () => {
    const direct = await request(t.http)
      .post('/api/v1/hosts')
      .set(asAdmin())
      .send({
        name: 'direct',
        adapter: 'qemu-direct',
        stateDir: join(workDir, 'qemu-direct'),
        agentToken: 'a-token-for-this-host',
      })
      .expect(201);
    expect(direct.body).toEqual(expect.objectContaining({ status: 'up', hasAgentToken: true }));
    expect(direct.body).not.toHaveProperty('agentToken');
    const stored = (
      await t.app.get(DataSource).query(`SELECT agent_token_encrypted AS t FROM hosts WHERE id = $1`, [direct.body.id])
    )[0].t as string;
    expect(stored).not.toContain('a-token-for-this-host');
    const local = (await request(t.http).get('/api/v1/hosts').set(asAdmin())).body.items.find(
      (h: { name: string }) => h.name !== 'direct',
    );

    const chosen = await request(t.http)
      .post('/api/v1/vms')
      .set(asAdmin())
      .send({ name: 'on-direct', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, hostId: direct.body.id })
      .expect(202);
    expect((await waitOp(chosen.headers.location)).status).toBe('succeeded');
    const vmId = chosen.body.vm.id;
    expect(chosen.body.vm.hostId).toBe(direct.body.id);
    await until(
      'the marker from the qemu-direct guest',
      async () => (await request(t.http).get(`/api/v1/vms/${vmId}/serial`).set(asAdmin())).text.includes(GUEST_MARKER),
      30_000,
    );
    expect(domainExists(vmId)).toBe(false); // not a libvirt domain: QEMU runs it directly
    expect(existsSync(join(workDir, 'qemu-direct'))).toBe(true);
    expect((await request(t.http).get(`/api/v1/vms/${vmId}`).set(asAdmin())).body.state).toBe('running');

    const user = await createUser(t.http, admin, 'placed');
    const auth = { Authorization: `Bearer ${user.accessToken}` };
    await request(t.http).patch(`/api/v1/hosts/${local.id}`).set(asAdmin()).send({ maintenance: true }).expect(200);
    const first = await request(t.http)
      .post('/api/v1/vms')
      .set(auth)
      .send({ name: 'sched-1', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId, start: false })
      .expect(202);
    expect(first.body.vm.hostId).toBe(direct.body.id);
    await request(t.http).patch(`/api/v1/hosts/${local.id}`).set(asAdmin()).send({ maintenance: false }).expect(200);
    await request(t.http)
      .patch(`/api/v1/hosts/${direct.body.id}`)
      .set(asAdmin())
      .send({ maintenance: true })
      .expect(200);
    const second = await request(t.http)
      .post('/api/v1/vms')
      .set(auth)
      .send({ name: 'sched-2', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId, start: false })
      .expect(202);
    expect(second.body.vm.hostId).toBe(local.id);
    await waitOp(first.headers.location);
    await waitOp(second.headers.location);

    await request(t.http)
      .put(`/api/v1/users/${user.id}/quota`)
      .set(asAdmin())
      .send({ memoryMiB: 10_000_000 })
      .expect(200);
    expectProblem(
      await request(t.http)
        .post('/api/v1/vms')
        .set(auth)
        .send({ name: 'too-big', vcpus: 1, memoryMiB: 1_000_000, diskGiB: 1, imageId, start: false }),
      409,
      'INSUFFICIENT_CAPACITY',
    );
    const hosts = (await request(t.http).get('/api/v1/hosts').set(asAdmin())).body.items;
    expect(hosts.find((h: { id: string }) => h.id === direct.body.id).allocated).toEqual({
      vcpus: 2,
      memoryMiB: 192,
      vms: 2,
    });
    expectProblem(await request(t.http).delete(`/api/v1/hosts/${direct.body.id}`).set(asAdmin()), 409, 'CONFLICT');

    const del = await request(t.http).delete(`/api/v1/vms/${vmId}`).set(asAdmin()).expect(202);
    expect((await waitOp(del.headers.location)).status).toBe('succeeded');
  });

  it('never places more memory on a host than its agent reports available', async () => {
    const token = 'agent-token-for-placement';
    const agent = await startAgent({ AGENT_TOKEN: token, NODE_ENV: 'production' });
    try {
      const host = await request(t.http)
        .post('/api/v1/hosts')
        .set(asAdmin())
        .send({
          name: 'watched',
          adapter: 'qemu-direct',
          stateDir: join(workDir, 'qemu-watched'),
          agentUrl: agent.url,
          agentToken: token,
        })
        .expect(201);
      const metrics = (await (
        await fetch(`${agent.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as { memory: { availableBytes: number; totalBytes: number } };
      const availableMiB = Math.floor(metrics.memory.availableBytes / 1024 / 1024);
      expect(host.body.memoryMiB).toBeGreaterThan(availableMiB + 256);
      // Fits the host's memory by allocation, but not what its agent says is free.
      const tooMuch = Math.min(host.body.memoryMiB - 1, availableMiB + 256);
      expectProblem(
        await request(t.http).post('/api/v1/vms').set(asAdmin()).send({
          name: 'greedy',
          vcpus: 1,
          memoryMiB: tooMuch,
          diskGiB: 1,
          imageId,
          hostId: host.body.id,
          start: false,
        }),
        409,
        'INSUFFICIENT_CAPACITY',
      );
      await request(t.http).delete(`/api/v1/hosts/${host.body.id}`).set(asAdmin()).expect(204);
    } finally {
      await agent.stop();
    }
  });

  it('security 11.14: changing agentUrl needs the agent token again, so the stored token never reaches a new URL', async () => {
    // A listener on loopback standing in for an admin-chosen (or attacker-chosen) agentUrl: it records every Authorization header.
    const seen: string[] = [];
    const listener = createHttpServer((req, res) => {
      seen.push(req.headers.authorization ?? '(none)');
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const listenerUrl = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
    const stolen = 'the-stored-agent-token';
    try {
      const host = (
        await request(t.http)
          .post('/api/v1/hosts')
          .set(asAdmin())
          .send({
            name: 'agent-moved',
            adapter: 'qemu-direct',
            stateDir: join(workDir, 'qemu-agent-moved'),
            agentUrl: 'http://127.0.0.1:9',
            agentToken: stolen,
          })
          .expect(201)
      ).body;

      const moved = await request(t.http)
        .patch(`/api/v1/hosts/${host.id}`)
        .set(asAdmin())
        .send({ agentUrl: listenerUrl });
      expectProblem(moved, 400, 'VALIDATION_FAILED');
      expect(moved.body.errors).toEqual([expect.objectContaining({ field: 'agentToken' })]);
      expect((await request(t.http).get(`/api/v1/hosts/${host.id}`).set(asAdmin())).body).toEqual(
        expect.objectContaining({ agentUrl: 'http://127.0.0.1:9', hasAgentToken: true }),
      );
      await t.app.get(HostMonitor).check(); // what the periodic poll does
      expect(seen.filter((header) => header.includes(stolen))).toEqual([]);

      // With the token sent again, the new URL is the agent: the listener hears from the api, with the new token only.
      await request(t.http)
        .patch(`/api/v1/hosts/${host.id}`)
        .set(asAdmin())
        .send({ agentUrl: listenerUrl, agentToken: 'the-new-agent-token' })
        .expect(200);
      await t.app.get(HostMonitor).check();
      expect(seen).toContain('Bearer the-new-agent-token');
      expect(seen.filter((header) => header.includes(stolen))).toEqual([]);

      // No agent: the token goes with the URL.
      const cleared = await request(t.http)
        .patch(`/api/v1/hosts/${host.id}`)
        .set(asAdmin())
        .send({ agentUrl: null })
        .expect(200);
      expect(cleared.body).toEqual(expect.objectContaining({ agentUrl: null, hasAgentToken: false }));
      await request(t.http).delete(`/api/v1/hosts/${host.id}`).set(asAdmin()).expect(204);
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  it('marks a host that stops answering down, its VMs unknown, fires an alert, and recovers', async () => {
    let relay = await libvirtRelay();
    const host = await request(t.http)
      .post('/api/v1/hosts')
      .set(asAdmin())
      .send({
        name: 'relayed',
        adapter: 'libvirt',
        libvirtUri: `qemu+tcp://127.0.0.1:${relay.port}/system`,
        // The relay leads to this machine's libvirtd, where the VM pool already is.
        storagePath: t.data.sandbox.vmDir,
      })
      .expect(201);
    expect(host.body.status).toBe('up');
    // A host reached over the network gets the image through libvirt, checked and recorded.
    const vm = await request(t.http)
      .post('/api/v1/vms')
      .set(asAdmin())
      .send({ name: 'behind-relay', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId, hostId: host.body.id, start: false })
      .expect(202);
    expect((await waitOp(vm.headers.location)).status).toBe('succeeded');
    const [copy] = await t.app
      .get(DataSource)
      .query(`SELECT volume, state, sha256 FROM host_images WHERE host_id = $1 AND image_id = $2`, [
        host.body.id,
        imageId,
      ]);
    expect(copy).toEqual({
      volume: expect.stringMatching(/^image-[0-9a-f]{32}-kernel\.img$/),
      state: 'ready',
      sha256: expect.any(String),
    });
    for (const volume of [copy.volume, copy.volume.replace('-kernel.', '-initrd.')])
      expect(existsSync(join(t.data.sandbox.vmDir, volume))).toBe(true);
    const [{ sha256 }] = await t.app.get(DataSource).query(`SELECT sha256 FROM images WHERE id = $1`, [imageId]);
    expect(sha256).toBe(copy.sha256);

    await relay.cut();
    await until(
      'the host to be down',
      async () => (await request(t.http).get(`/api/v1/hosts/${host.body.id}`).set(asAdmin())).body.status === 'down',
      20_000,
    );
    await until(
      'its VM to be unknown',
      async () => (await request(t.http).get(`/api/v1/vms/${vm.body.vm.id}`).set(asAdmin())).body.state === 'unknown',
      5_000,
    );
    await until(
      'a firing Host down alert',
      async () => {
        const alerts = (await request(t.http).get('/api/v1/alerts?state=firing').set(asAdmin())).body.items as Array<{
          subject: string;
          ruleName?: string;
        }>;
        return alerts.some((a) => a.subject === 'relayed');
      },
      10_000,
    );

    relay = await libvirtRelay(relay.port);
    await until(
      'the host to be up again',
      async () => (await request(t.http).get(`/api/v1/hosts/${host.body.id}`).set(asAdmin())).body.status === 'up',
      30_000,
    );
    await until(
      'its VM to be stopped again',
      async () => (await request(t.http).get(`/api/v1/vms/${vm.body.vm.id}`).set(asAdmin())).body.state === 'stopped',
      15_000,
    );
    relay.server.close();
  });
});
