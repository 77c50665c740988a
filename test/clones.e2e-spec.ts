import request from 'supertest';
import { DataSource } from 'typeorm';
import { KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';
import { operationHelpers } from './support/operations';

jest.setTimeout(600_000);

/**
 * Clones over the real app: PostgreSQL (or PGlite), libvirt and the tiny guest (a kernel image,
 * so its boot disk is blank: the copies are checked as volumes in the pool, and the clones boot).
 */
describe('Clones (e2e, real libvirt, the tiny guest)', () => {
  let t: TestApp;
  let db: DataSource;
  let admin: { accessToken: string };
  let alice: { id: string; accessToken: string };
  let bob: { id: string; accessToken: string };
  let imageId: string;
  let pool: string;
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }),
    put: (path: string) => request(t.http).put(path).auth(token, { type: 'bearer' }),
  });
  const api = () => as(alice.accessToken);
  const { succeeded, createVm, booted } = operationHelpers(api, () => imageId);

  const poolVolumes = (): string[] => {
    virsh('pool-refresh', pool);
    return virsh('vol-list', pool)
      .stdout.split('\n')
      .slice(2)
      .map((line) => line.trim().split(/\s+/)[0])
      .filter(Boolean)
      .sort();
  };
  const basesOf = (vmId: string) => poolVolumes().filter((name) => name.startsWith(`${vmId}-base-`));
  const disksOf = async (vmId: string) =>
    (await api().get(`/api/v1/vms/${vmId}/disks`).expect(200)).body.items as Array<{
      id: string;
      position: number;
      sizeGiB: number;
      serial: string;
    }>;
  const macsOf = async (vmId: string) =>
    ((await api().get(`/api/v1/vms/${vmId}/nics`).expect(200)).body.items as Array<{ mac: string }>).map((n) => n.mac);
  const backingOf = (vmId: string, diskId: string) =>
    /<backingStore>[\s\S]*?<path>([^<]+)<\/path>/.exec(
      virsh('vol-dumpxml', '--pool', pool, `${vmId}-disk-${diskId}.qcow2`).stdout,
    )?.[1];

  beforeAll(async () => {
    t = await startTestApp();
    db = t.app.get(DataSource);
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    bob = await createUser(t.http, admin.accessToken, 'bob');
    const images = await api().get('/api/v1/images').expect(200);
    imageId = images.body.items.find((i: { name: string }) => i.name === KERNEL_IMAGE_NAME).id;
    pool = t.data.sandbox.pools[0];
  });

  afterAll(async () => {
    for (const { id } of await db.query(`SELECT id FROM vms`)) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--nvram', '--snapshots-metadata');
    }
    await t.close();
  });

  it('full and linked clones of a stopped VM boot with new disks and MACs, outlive their source; the base goes with its last disk', async () => {
    const sourceId = await createVm('clone-src', false);
    const sourceDisks = await disksOf(sourceId);
    const full = await api().post(`/api/v1/vms/${sourceId}/clone`).send({ name: 'clone-full' });
    const linked = await api().post(`/api/v1/vms/${sourceId}/clone`).send({ name: 'clone-linked', linked: true });
    await succeeded(full);
    await succeeded(linked);
    const fullId: string = full.body.vm.id;
    const linkedId: string = linked.body.vm.id;
    expect(full.body.vm).toMatchObject({ name: 'clone-full', vcpus: 1, memoryMiB: 128, diskGiB: 2, imageId });

    // The source's operation carried a clone source; the clone's disks are new ones at the same positions.
    const createOp = await db.query(`SELECT params FROM operations WHERE vm_id = $1 AND kind = 'vm.create'`, [
      linkedId,
    ]);
    expect(createOp[0].params.source).toEqual({ kind: 'clone', vmId: sourceId, linked: true, snapshotName: null });
    for (const id of [fullId, linkedId]) {
      const disks = await disksOf(id);
      expect(disks.map((d) => [d.position, d.sizeGiB])).toEqual(sourceDisks.map((d) => [d.position, d.sizeGiB]));
      for (const disk of disks) expect(sourceDisks.map((d) => d.id)).not.toContain(disk.id);
    }
    await Promise.all([booted(fullId), booted(linkedId)]);

    const seen = new Set(await macsOf(sourceId));
    for (const id of [fullId, linkedId]) {
      const macs = await macsOf(id);
      expect(macs.length).toBe(seen.size);
      for (const mac of macs) expect(seen.has(mac)).toBe(false);
    }

    // The full clone's disks stand alone; the linked one's are overlays over bases of their own.
    for (const disk of await disksOf(fullId)) expect(backingOf(fullId, disk.id)).toBeUndefined();
    const linkedDisks = await disksOf(linkedId);
    expect(basesOf(linkedId)).toEqual(linkedDisks.map((d) => `${linkedId}-base-${d.id}.qcow2`).sort());
    for (const disk of linkedDisks)
      expect(backingOf(linkedId, disk.id)).toMatch(new RegExp(`/${linkedId}-base-${disk.id}\\.qcow2$`));

    // The source goes; the clones keep their disks (and the linked one its bases) and boot again.
    await succeeded(await api().delete(`/api/v1/vms/${sourceId}`));
    expect(poolVolumes().filter((name) => name.startsWith(sourceId))).toEqual([]);
    expect(basesOf(linkedId)).toHaveLength(2);
    for (const id of [fullId, linkedId]) {
      await succeeded(await api().post(`/api/v1/vms/${id}/actions`).send({ action: 'stop' }));
      await succeeded(await api().post(`/api/v1/vms/${id}/actions`).send({ action: 'start' }));
      await booted(id);
    }

    // Removing the linked clone's data disk takes its base along; the boot disk's stays.
    await succeeded(await api().post(`/api/v1/vms/${linkedId}/actions`).send({ action: 'stop' }));
    await succeeded(await api().delete(`/api/v1/vms/${linkedId}/disks/${linkedDisks[1].id}`));
    expect(basesOf(linkedId)).toEqual([`${linkedId}-base-${linkedDisks[0].id}.qcow2`]);
    await succeeded(await api().delete(`/api/v1/vms/${linkedId}`));
    expect(poolVolumes().filter((name) => name.startsWith(linkedId))).toEqual([]);
    await succeeded(await api().delete(`/api/v1/vms/${fullId}`));
  });

  it('a running VM: 409 without a snapshot, 404 for a snapshot it does not have', async () => {
    const sourceId = await createVm('clone-running', true);
    expectProblem(
      await api().post(`/api/v1/vms/${sourceId}/clone`).send({ name: 'clone-refused' }),
      409,
      'INVALID_STATE',
    );
    expectProblem(
      await api()
        .post(`/api/v1/vms/${sourceId}/clone`)
        .send({ name: 'clone-refused', snapshotId: '9a4c2e71-3b5d-4f08-8e6a-1c7d9b2f4e53' }),
      404,
      'NOT_FOUND',
    );
    await succeeded(await api().delete(`/api/v1/vms/${sourceId}`));
  });

  it('a running VM cloned from its snapshot: the clone boots; its bases go with it', async () => {
    const sourceId = await createVm('clone-snapped', true);
    const snap = await api().post(`/api/v1/vms/${sourceId}/snapshots`).send({ name: 'before' });
    await succeeded(snap);
    for (const linked of [false, true]) {
      const clone = await api()
        .post(`/api/v1/vms/${sourceId}/clone`)
        .send({ name: `clone-of-snap-${linked}`, snapshotId: snap.body.snapshot.id, linked });
      await succeeded(clone);
      const cloneId: string = clone.body.vm.id;
      const op = await db.query(`SELECT params FROM operations WHERE vm_id = $1 AND kind = 'vm.create'`, [cloneId]);
      expect(op[0].params.source).toEqual({ kind: 'clone', vmId: sourceId, linked, snapshotName: 'before' });
      await booted(cloneId);
      expect(basesOf(cloneId)).toHaveLength(linked ? 2 : 0);
      await succeeded(await api().delete(`/api/v1/vms/${cloneId}`));
      expect(poolVolumes().filter((name) => name.startsWith(cloneId))).toEqual([]);
    }
    expect((await api().get(`/api/v1/vms/${sourceId}`).expect(200)).body.state).toBe('running');
    await succeeded(await api().delete(`/api/v1/vms/${sourceId}`));
  });

  it("quota, names and ownership: 403 beyond the quota, 409 for a taken name, 404 for another user's VM; nothing half-made", async () => {
    const sourceId = await createVm('clone-rules', false);
    const before = poolVolumes();
    const vmsBefore = await db.query(`SELECT count(*)::int AS n FROM vms`);
    expectProblem(
      await as(bob.accessToken).post(`/api/v1/vms/${sourceId}/clone`).send({ name: 'bobs' }),
      404,
      'NOT_FOUND',
    );
    expectProblem(await api().post(`/api/v1/vms/${sourceId}/clone`).send({ name: 'clone-rules' }), 409, 'CONFLICT');
    expectProblem(
      await api().post(`/api/v1/vms/${sourceId}/clone`).send({ name: 'Bad Name' }),
      400,
      'VALIDATION_FAILED',
    );
    await as(admin.accessToken).put(`/api/v1/users/${alice.id}/quota`).send({ diskGiB: 3 }).expect(200);
    expectProblem(await api().post(`/api/v1/vms/${sourceId}/clone`).send({ name: 'too-big' }), 403, 'QUOTA_EXCEEDED');
    expect(await db.query(`SELECT count(*)::int AS n FROM vms`)).toEqual(vmsBefore);
    expect(poolVolumes()).toEqual(before);
    await succeeded(await api().delete(`/api/v1/vms/${sourceId}`));
  });
});
