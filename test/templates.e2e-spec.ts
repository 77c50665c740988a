import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';
import { operationHelpers } from './support/operations';

jest.setTimeout(600_000);

/**
 * Templates over the real app: PostgreSQL (or PGlite), libvirt and the tiny guest. Its VMs boot a
 * kernel image and have a blank boot disk: the template is that disk, written as a standalone
 * compressed qcow2 into IMAGE_DIR, and a VM made from it gets an overlay over it.
 */
describe('Templates (e2e, real libvirt, the tiny guest)', () => {
  let t: TestApp;
  let db: DataSource;
  let admin: { accessToken: string };
  let alice: { id: string; accessToken: string };
  let bob: { id: string; accessToken: string };
  let kernelImageId: string;
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
    patch: (path: string) => request(t.http).patch(path).auth(token, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }),
    put: (path: string) => request(t.http).put(path).auth(token, { type: 'bearer' }),
  });
  const api = () => as(alice.accessToken);
  const { succeeded } = operationHelpers(api);

  async function createVm(name: string, imageId: string, start: boolean): Promise<string> {
    const res = await api().post('/api/v1/vms').send({ name, vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start });
    await succeeded(res);
    return res.body.vm.id;
  }

  const imageIds = async (token: string): Promise<string[]> =>
    (await as(token).get('/api/v1/images?limit=500').expect(200)).body.items.map((i: { id: string }) => i.id);

  beforeAll(async () => {
    t = await startTestApp();
    db = t.app.get(DataSource);
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    bob = await createUser(t.http, admin.accessToken, 'bob');
    const images = await api().get('/api/v1/images').expect(200);
    kernelImageId = images.body.items.find((i: { name: string }) => i.name === KERNEL_IMAGE_NAME).id;
  });

  afterAll(async () => {
    for (const { id } of await db.query(`SELECT id FROM vms`)) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--nvram');
    }
    await t.close();
  });

  it('a stopped VM becomes a private template: a standalone compressed qcow2 in IMAGE_DIR, its owner makes VMs from it, others see it once an admin publishes it', async () => {
    const sourceId = await createVm('tpl-src', kernelImageId, false);
    const made = await api().post(`/api/v1/vms/${sourceId}/image`).send({ name: 'web-base', description: 'blank' });
    expect(made.body.image).toMatchObject({
      name: 'web-base',
      description: 'blank',
      kind: 'disk',
      state: 'creating',
      ownerId: alice.id,
      sourceVmId: sourceId,
      visibility: 'private',
    });
    const op = await succeeded(made);
    expect(op).toMatchObject({ kind: 'image.create', vmId: sourceId });
    const templateId: string = made.body.image.id;

    const template = (await api().get(`/api/v1/images/${templateId}`).expect(200)).body;
    const file = join(t.data.sandbox.imageDir, `template-${templateId}.qcow2`);
    expect(template).toMatchObject({ state: 'ready', available: true, sizeBytes: statSync(file).size });
    expect(template.sha256).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', file], { encoding: 'utf8' }));
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 1024 ** 3 });
    expect(info['backing-filename']).toBeUndefined();

    // A rescan finds the file as the template's, not as a new image, and keeps it usable.
    await as(admin.accessToken).post('/api/v1/images/rescan').expect(200);
    expect(await db.query(`SELECT count(*)::int AS n FROM images WHERE path = $1`, [file])).toEqual([{ n: 1 }]);
    expect((await api().get(`/api/v1/images/${templateId}`).expect(200)).body).toMatchObject({
      state: 'ready',
      available: true,
      ownerId: alice.id,
    });

    // Its owner makes a VM from it; another user neither sees nor uses it.
    const fromTemplate = await createVm('from-tpl', templateId, false);
    expect(await imageIds(alice.accessToken)).toContain(templateId);
    expect(await imageIds(bob.accessToken)).not.toContain(templateId);
    expectProblem(await as(bob.accessToken).get(`/api/v1/images/${templateId}`), 404, 'NOT_FOUND');
    expectProblem(
      await as(bob.accessToken)
        .post('/api/v1/vms')
        .send({ name: 'bobs', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId: templateId, start: false }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(await as(bob.accessToken).delete(`/api/v1/images/${templateId}`), 404, 'NOT_FOUND');

    // Admins publish; users may not.
    expectProblem(
      await as(bob.accessToken).patch(`/api/v1/images/${templateId}`).send({ visibility: 'public' }),
      403,
      'FORBIDDEN',
    );
    const published = await as(admin.accessToken)
      .patch(`/api/v1/images/${templateId}`)
      .send({ visibility: 'public' })
      .expect(200);
    expect(published.body).toMatchObject({ id: templateId, visibility: 'public' });
    expect((await as(bob.accessToken).get(`/api/v1/images/${templateId}`).expect(200)).body.name).toBe('web-base');
    expectProblem(await as(bob.accessToken).delete(`/api/v1/images/${templateId}`), 403, 'FORBIDDEN');

    // Deleted by its owner once no VM is made from it; the file and the charge go with it.
    expectProblem(await api().delete(`/api/v1/images/${templateId}`), 409, 'IMAGE_IN_USE');
    await succeeded(await api().delete(`/api/v1/vms/${fromTemplate}`));
    const before = (await api().get('/api/v1/quota').expect(200)).body.usage.backupGiB;
    expect(before).toBeCloseTo(statSync(file).size / 1024 ** 3, 6);
    await api().delete(`/api/v1/images/${templateId}`).expect(204);
    expect(existsSync(file)).toBe(false);
    expect((await api().get('/api/v1/quota').expect(200)).body.usage.backupGiB).toBe(0);
    await succeeded(await api().delete(`/api/v1/vms/${sourceId}`));
  });

  it('refuses taken names (409, case aside, any image), hostile names (400), a running VM (409), beyond backupGiB (403), another user’s VM (404): nothing written', async () => {
    const sourceId = await createVm('tpl-rules', kernelImageId, false);
    await succeeded(await api().post(`/api/v1/vms/${sourceId}/image`).send({ name: 'Golden' }));
    const imagesBefore = await db.query(`SELECT count(*)::int AS n FROM images`);
    for (const name of ['golden', 'GOLDEN', KERNEL_IMAGE_NAME.toUpperCase()])
      expectProblem(await api().post(`/api/v1/vms/${sourceId}/image`).send({ name }), 409, 'CONFLICT');
    for (const name of ['../etc/passwd', '.hidden', 'a/b', 'a..b', '', ' x', 'x'.repeat(129), 'é', 'a\nb'])
      expectProblem(await api().post(`/api/v1/vms/${sourceId}/image`).send({ name }), 400, 'VALIDATION_FAILED');
    expectProblem(await api().post(`/api/v1/vms/${sourceId}/image`).send({}), 400, 'VALIDATION_FAILED');
    expectProblem(
      await as(bob.accessToken).post(`/api/v1/vms/${sourceId}/image`).send({ name: 'bobs' }),
      404,
      'NOT_FOUND',
    );
    await as(admin.accessToken).put(`/api/v1/users/${alice.id}/quota`).send({ backupGiB: 0 }).expect(200);
    expectProblem(await api().post(`/api/v1/vms/${sourceId}/image`).send({ name: 'over' }), 403, 'QUOTA_EXCEEDED');
    await as(admin.accessToken).put(`/api/v1/users/${alice.id}/quota`).send({ backupGiB: null }).expect(200);
    const running = await createVm('tpl-running', kernelImageId, true);
    expectProblem(await api().post(`/api/v1/vms/${running}/image`).send({ name: 'hot' }), 409, 'INVALID_STATE');
    expect(await db.query(`SELECT count(*)::int AS n FROM images`)).toEqual(imagesBefore);
    for (const id of [sourceId, running]) await succeeded(await api().delete(`/api/v1/vms/${id}`));
  });
});
