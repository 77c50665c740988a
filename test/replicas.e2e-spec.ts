import { AddressInfo } from 'node:net';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { LeaderElection } from '../apps/api/src/database/leader-election';
import { VmReconciler } from '../apps/api/src/vms/vm-reconciler';
import { KERNEL_IMAGE_NAME, openEventStream, virsh } from './support/hypervisor';
import { ADMIN, login, REAL_POSTGRES, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(120_000);

/**
 * Two api processes' worth of the app (two Nest apps, each with its own pools,
 * listener and leader campaign) on one real PostgreSQL database — the embedded
 * PGlite is single-replica by design, so this always uses the real server.
 */
describe('two replicas on one database (e2e)', () => {
  let a: TestApp;
  let b: TestApp;
  let baseB: string;
  let token: string;

  beforeAll(async () => {
    a = await startTestApp({}, undefined, REAL_POSTGRES);
    b = await startTestApp({}, a.data);
    await b.app.listen(0, '127.0.0.1');
    baseB = `http://127.0.0.1:${(b.app.getHttpServer().address() as AddressInfo).port}`;
    token = (await login(a.http, ADMIN.username, ADMIN.password)).accessToken;
  });
  afterAll(async () => {
    for (const { id } of await b.app.get(DataSource).query(`SELECT id FROM vms`)) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`);
    }
    await a.close({ keepData: true }).catch(() => undefined);
    await b.close();
  });

  it('elects exactly one leader, and only the leader sweeps', async () => {
    const leaders = [a, b].map((t) => t.app.get(LeaderElection).isLeader);
    expect(leaders.filter(Boolean)).toHaveLength(1);
    const [leader, follower] = leaders[0] ? [a, b] : [b, a];
    expect(await follower.app.get(VmReconciler).sweep()).toBe(false);
    // The leader may be mid-sweep already (its interval, or a resync after libvirt events from
    // another suite), and then this call returns false at once; it sweeps once that one is done.
    let swept = false;
    for (const deadline = Date.now() + 30_000; !swept && Date.now() < deadline;) {
      swept = await leader.app.get(VmReconciler).sweep();
      if (!swept) await new Promise((r) => setTimeout(r, 100));
    }
    expect(swept).toBe(true);
  });

  it('delivers an event raised on replica A to an SSE client of replica B', async () => {
    const stream = await openEventStream(baseB, token);
    try {
      const imageId = (await request(a.http).get('/api/v1/images').auth(token, { type: 'bearer' })).body.items.find(
        (i: { name: string }) => i.name === KERNEL_IMAGE_NAME,
      ).id;
      const created = await request(a.http)
        .post('/api/v1/vms')
        .auth(token, { type: 'bearer' })
        .send({ name: 'cross', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId, start: false })
        .expect(202);
      const started = Date.now();
      const event = await stream.waitFor((e) => e.type === 'vm.created' && e.data.id === created.body.vm.id, 5_000);
      console.log(`vm.created raised on A reached B's SSE client after ${event.receivedAt - started} ms`);
      // The operation runs on A; B sees it finish, also through the shared database.
      await stream.waitFor(
        (e) =>
          e.type === 'operation.updated' && e.data.id === created.body.operation.id && e.data.status === 'succeeded',
        30_000,
      );
      const onB = await request(b.http)
        .get(`/api/v1/operations/${created.body.operation.id}/wait?timeout=30`)
        .auth(token, { type: 'bearer' })
        .expect(200);
      expect(onB.body.status).toBe('succeeded');
    } finally {
      stream.close();
    }
  });

  it('shows a VM change in the list at once on the replica that made it, and soon on the other', async () => {
    const list = async (t: TestApp) =>
      (await request(t.http).get('/api/v1/vms?limit=500').auth(token, { type: 'bearer' }).expect(200)).body
        .items as Array<{ id: string; name: string; description: string | null }>;
    const vm = (await list(a)).find((v) => v.name === 'cross')!; // created by the test above
    await list(b); // B now holds the page (VmPageCache)
    const description = `changed at ${Date.now()}`;
    await request(a.http)
      .patch(`/api/v1/vms/${vm.id}`)
      .auth(token, { type: 'bearer' })
      .send({ description })
      .expect(200);
    expect((await list(a)).find((v) => v.id === vm.id)!.description).toBe(description);
    // B drops its pages when the vms_changed NOTIFY arrives.
    const started = Date.now();
    while ((await list(b)).find((v) => v.id === vm.id)!.description !== description) {
      expect(Date.now() - started).toBeLessThan(5_000);
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(`a description changed on A showed in B's VM list after ${Date.now() - started} ms`);
  });

  it('runs operations from both replicas correctly at once', async () => {
    const imageId = (await request(a.http).get('/api/v1/images').auth(token, { type: 'bearer' })).body.items.find(
      (i: { name: string }) => i.name === KERNEL_IMAGE_NAME,
    ).id;
    const results = await Promise.all(
      [a, b, a, b].map((t, i) =>
        request(t.http)
          .post('/api/v1/vms')
          .auth(token, { type: 'bearer' })
          .send({ name: `both-${i}`, vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId, start: false }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([202, 202, 202, 202]);
    for (const [i, res] of results.entries()) {
      const waiter = i % 2 === 0 ? b : a; // wait on the other replica
      expect(
        (
          await request(waiter.http)
            .get(`${res.headers.location}/wait?timeout=60`)
            .auth(token, { type: 'bearer' })
            .expect(200)
        ).body.status,
      ).toBe('succeeded');
    }
    // One operation per VM holds across replicas: a second action on B while A's runs is refused.
    const vmId = results[0].body.vm.id;
    const [first, second] = await Promise.all([
      request(a.http).post(`/api/v1/vms/${vmId}/actions`).auth(token, { type: 'bearer' }).send({ action: 'start' }),
      request(b.http).post(`/api/v1/vms/${vmId}/actions`).auth(token, { type: 'bearer' }).send({ action: 'start' }),
    ]);
    expect([first.status, second.status].sort()).toEqual([202, 409]);
  });

  it('hands leadership over when the leader stops', async () => {
    const [leader, follower] = a.app.get(LeaderElection).isLeader ? [a, b] : [b, a];
    if (leader === a) await a.close({ keepData: true });
    // Ending B's campaign closes its lock connection, exactly what B's death would do.
    else await b.app.get(LeaderElection).onApplicationShutdown();
    const deadline = Date.now() + 15_000;
    while (!follower.app.get(LeaderElection).isLeader && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 250));
    expect(follower.app.get(LeaderElection).isLeader).toBe(true);
  });
});
