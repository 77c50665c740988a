import { rmSync } from 'node:fs';
import request from 'supertest';
import { KERNEL_IMAGE_NAME, virsh, vmFiles } from './support/hypervisor';
import { ADMIN, createUser, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(180_000);

/** What a user sees of a hypervisor failure, against the real libvirt. */
describe('hypervisor failures as users see them (e2e)', () => {
  let t: TestApp;
  let user: { accessToken: string };
  let imageId: string;
  const auth = () => ({ Authorization: `Bearer ${user.accessToken}` });

  beforeAll(async () => {
    t = await startTestApp();
    const admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    user = await createUser(t.http, admin, 'unlucky');
    imageId = (await request(t.http).get('/api/v1/images').set(auth())).body.items.find(
      (i: { name: string }) => i.name === KERNEL_IMAGE_NAME,
    ).id;
  });
  afterAll(async () => t.close());

  it("security 11.15: a start that libvirt refuses (the VM's disk is gone) fails with a stable code and no host path or uid", async () => {
    const created = await request(t.http)
      .post('/api/v1/vms')
      .set(auth())
      .send({ name: 'diskless', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: false })
      .expect(202);
    expect(
      (await request(t.http).get(`${created.headers.location}/wait?timeout=60`).set(auth()).expect(200)).body.status,
    ).toBe('succeeded');
    const vmId = created.body.vm.id as string;
    rmSync(vmFiles(t.vmDir, vmId).disk);

    const started = await request(t.http)
      .post(`/api/v1/vms/${vmId}/actions`)
      .set(auth())
      .send({ action: 'start' })
      .expect(202);
    const op = (await request(t.http).get(`${started.headers.location}/wait?timeout=60`).set(auth()).expect(200)).body;
    expect(op).toEqual(
      expect.objectContaining({ status: 'failed', error: { code: 'OPERATION_FAILED', detail: expect.any(String) } }),
    );
    // libvirt's own words name the file, the VM folder and QEMU's uid: none of it reaches the owner.
    const shown = JSON.stringify([
      op,
      (await request(t.http).get(started.headers.location).set(auth()).expect(200)).body,
    ]);
    expect(shown).not.toContain(t.vmDir);
    expect(shown).not.toMatch(/\/var\/lib|\.qcow2|uid|gid|virsh|limen-/);

    virsh('undefine', `limen-${vmId}`);
  });
});
