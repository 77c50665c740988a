import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { virsh, vmFiles } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(180_000);

/** Disk images that would have QEMU open other files: uploaded, or placed in IMAGE_DIR by hand. */
describe('image chains (e2e)', () => {
  let t: TestApp;
  let admin: string;
  let user: { accessToken: string };
  let work: string;
  let victim: string;
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
  const upload = (name: string, body: Buffer) =>
    request(t.http)
      .post(`/api/v1/images?name=${name}`)
      .set(bearer(admin))
      .set('Content-Type', 'application/octet-stream')
      .send(body);
  const imageRows = async () =>
    (await t.app.get(DataSource).query(`SELECT name FROM images ORDER BY name`)).map(
      (r: { name: string }) => r.name,
    ) as string[];
  /** A qcow2 made here with qemu-img, returned as bytes to upload. */
  const qcow2 = (name: string, ...options: string[]) => {
    const path = join(work, name);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', ...options, path, '64M']);
    return readFileSync(path);
  };

  beforeAll(async () => {
    t = await startTestApp();
    admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    user = await createUser(t.http, admin, 'chained');
    work = mkdtempSync(join(tmpdir(), 'limen-chains-'));
    // Stands for another tenant's file: a VM's seed ISO holding its cloud-init password.
    victim = join(t.vmDir, `${randomUUID()}-seed.iso`);
    writeFileSync(victim, Buffer.alloc(1024 * 1024, 7));
  });
  afterAll(async () => {
    for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM vms`)) virsh('undefine', `limen-${id}`);
    await t.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('security 11.6: an uploaded qcow2 with a backing file or an external data file, or that is no qcow2, is refused and leaves nothing behind', async () => {
    const before = await imageRows();
    for (const [name, body] of [
      ['backed.qcow2', qcow2('backed.qcow2', '-b', victim, '-F', 'raw')],
      ['backed-qcow2.qcow2', qcow2('backed-qcow2.qcow2', '-b', join(work, 'backed.qcow2'), '-F', 'qcow2')],
      ['external.qcow2', qcow2('external.qcow2', '-o', `data_file=${victim},data_file_raw=on`)],
      ['not-a.qcow2', Buffer.from('plain bytes, no qcow2 header at all\n'.repeat(100))],
    ] as const) {
      const res = await upload(name, body);
      expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(res.body.detail).not.toContain(victim);
    }
    expect(
      readdirSync(t.data.sandbox.imageDir).filter((f) => f.endsWith('.qcow2') || f.startsWith('.upload-')),
    ).toEqual([]);
    expect(await imageRows()).toEqual(before);
  });

  it('security 11.6: a raw image is never read as a qcow2, whatever its bytes say', async () => {
    // A qcow2 header naming the victim as backing file, uploaded under a raw name.
    const disguised = await upload('disguised.img', qcow2('disguised.qcow2', '-b', victim, '-F', 'raw')).expect(201);
    const vm = await request(t.http)
      .post('/api/v1/vms')
      .set(bearer(user.accessToken))
      .send({ name: 'raw-one', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId: disguised.body.id, start: false })
      .expect(202);
    expect(
      (await request(t.http).get(`${vm.headers.location}/wait?timeout=60`).set(bearer(user.accessToken)).expect(200))
        .body.status,
    ).toBe('succeeded');
    const { disk } = vmFiles(t.vmDir, vm.body.vm.id);
    const chain = JSON.parse(
      execFileSync('qemu-img', ['info', '-U', '--backing-chain', '--output=json', disk], { encoding: 'utf8' }),
    ) as Array<{ filename: string; format: string }>;
    expect(chain.map((layer) => layer.format)).toEqual(['qcow2', 'raw']);
    expect(chain.map((layer) => layer.filename)).not.toContain(victim);
  });

  it('security 11.6: a chained image placed in IMAGE_DIR by hand is refused when a VM is created from it', async () => {
    const imageDir = t.data.sandbox.imageDir;
    copyFileSync(join(work, 'backed.qcow2'), join(imageDir, 'placed.qcow2'));
    const placed = (await request(t.http).post('/api/v1/images/rescan').set(bearer(admin)).expect(200)).body.items.find(
      (i: { name: string }) => i.name === 'placed.qcow2',
    );
    const vmsBefore = readdirSync(t.vmDir).sort();
    const res = await request(t.http)
      .post('/api/v1/vms')
      .set(bearer(user.accessToken))
      .send({ name: 'from-placed', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId: placed.id, start: false });
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'imageId' })]);
    expect(
      (await request(t.http).get('/api/v1/vms').set(bearer(user.accessToken)).expect(200)).body.items.map(
        (v: { name: string }) => v.name,
      ),
    ).not.toContain('from-placed');
    expect(readdirSync(t.vmDir).sort()).toEqual(vmsBefore);
    expect(existsSync(join(imageDir, 'placed.qcow2'))).toBe(true); // an admin's file: refused, not deleted
  });
});
