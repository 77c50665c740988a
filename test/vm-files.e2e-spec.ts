import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { GUEST_MARKER, KERNEL_IMAGE_NAME, virsh, vmFiles } from './support/hypervisor';
import { ADMIN, createUser, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(180_000);

/** A VM's files on the host, as other local users would find them. */
describe('VM files on the host (e2e)', () => {
  let t: TestApp;
  let admin: string;
  let user: { accessToken: string };
  const auth = () => ({ Authorization: `Bearer ${user.accessToken}` });
  const imageId = async (name: string) =>
    (await request(t.http).get('/api/v1/images').set(auth())).body.items.find((i: { name: string }) => i.name === name)
      .id as string;
  const create = async (body: Record<string, unknown>) => {
    const res = await request(t.http)
      .post('/api/v1/vms')
      .set(auth())
      .send({ vcpus: 1, memoryMiB: 128, diskGiB: 1, ...body })
      .expect(202);
    expect((await request(t.http).get(`${res.headers.location}/wait?timeout=60`).set(auth()).expect(200)).body).toEqual(
      expect.objectContaining({ status: 'succeeded' }),
    );
    return res.body.vm.id as string;
  };
  /**
   * Mode bits other local users have on the VM's files in the VM pool (VM_DIR), and on the pool's
   * folder itself: they may traverse it (QEMU's user must) but not list it.
   */
  const otherBits = (vmId: string) => {
    const files = vmFiles(t.vmDir, vmId).all;
    expect(files.length).toBeGreaterThan(0);
    return [
      [t.vmDir, statSync(t.vmDir).mode & 0o006],
      ...files.map((name) => [name, statSync(join(t.vmDir, name)).mode & 0o007]),
    ];
  };

  beforeAll(async () => {
    t = await startTestApp();
    admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    user = await createUser(t.http, admin, 'private');
    // A blank disk image, so a VM can carry a cloud-init seed (kernel images take none).
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(t.data.sandbox.imageDir, 'blank.qcow2'), '64M']);
    await request(t.http)
      .post('/api/v1/images/rescan')
      .set({ Authorization: `Bearer ${admin}` })
      .expect(200);
  });
  afterAll(async () => {
    for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM vms`)) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`);
    }
    await t.close();
  });

  it("security 11.5: a VM's disk, seed ISO (with its cloud-init password) and serial log are closed to other local users, and the VM still runs", async () => {
    const seeded = await create({
      name: 'seeded',
      imageId: await imageId('blank.qcow2'),
      cloudInit: { userData: '#cloud-config\npassword: hunter2-secret\nchpasswd: { expire: false }\n' },
    });
    const { disk, seed } = vmFiles(t.vmDir, seeded);
    expect(vmFiles(t.vmDir, seeded).all.map((name) => join(t.vmDir, name))).toEqual(
      expect.arrayContaining([disk, seed]),
    );
    expect(otherBits(seeded)).toEqual(otherBits(seeded).map(([name]) => [name, 0]));
    // QEMU (libvirt-qemu) still opens both: the domain runs.
    expect((await request(t.http).get(`/api/v1/vms/${seeded}`).set(auth()).expect(200)).body.state).toBe('running');

    const tiny = await create({ name: 'tiny', imageId: await imageId(KERNEL_IMAGE_NAME) });
    const deadline = Date.now() + 60_000;
    while (!(await request(t.http).get(`/api/v1/vms/${tiny}/serial`).set(auth())).text.includes(GUEST_MARKER)) {
      if (Date.now() > deadline) throw new Error('the tiny guest never printed its marker');
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(otherBits(tiny)).toEqual(otherBits(tiny).map(([name]) => [name, 0]));
  });
});
