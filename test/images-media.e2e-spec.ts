import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { domainExists, virsh, vmFiles } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(180_000);

/** A small ISO made here with genisoimage; it need not boot for media tests. */
function makeIso(): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'limen-iso-'));
  writeFileSync(join(dir, 'README'), 'LIMEN test media\n');
  execFileSync('genisoimage', ['-quiet', '-o', join(dir, 'media.iso'), '-V', 'LIMENTEST', join(dir, 'README')]);
  const iso = readFileSync(join(dir, 'media.iso'));
  rmSync(dir, { recursive: true, force: true });
  return iso;
}

describe('images, ISO installs, media and cloud-init (e2e)', () => {
  let t: TestApp;
  let admin: string;
  let user: { id: string; accessToken: string };
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
  const waitOp = async (location: string) =>
    (await request(t.http).get(`${location}/wait?timeout=60`).set(bearer(admin)).expect(200)).body;

  beforeAll(async () => {
    t = await startTestApp({ MAX_IMAGE_UPLOAD_MIB: '1' });
    admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    user = await createUser(t.http, admin, 'installer');
  });
  afterAll(async () => {
    for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM vms`)) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--snapshots-metadata');
    }
    await t.close();
  });

  it('streams an admin upload to IMAGE_DIR with its SHA-256, and refuses bad names, oversize bodies and users', async () => {
    const iso = makeIso();
    const res = await request(t.http)
      .post('/api/v1/images?name=installer.iso')
      .set(bearer(admin))
      .set('Content-Type', 'application/octet-stream')
      .send(iso)
      .expect(201);
    expect(res.body).toEqual(
      expect.objectContaining({
        name: 'installer.iso',
        kind: 'iso',
        sizeBytes: iso.length,
        sha256: createHash('sha256').update(iso).digest('hex'),
        available: true,
      }),
    );
    expect(res.body).not.toHaveProperty('path');

    expectProblem(
      await request(t.http)
        .post('/api/v1/images?name=installer.iso')
        .set(bearer(admin))
        .set('Content-Type', 'application/octet-stream')
        .send(iso),
      409,
      'CONFLICT',
    );
    for (const name of ['../escape.iso', '.hidden.iso', 'a/b.iso', 'x.exe', '%2e%2e%2fx.iso']) {
      expectProblem(
        await request(t.http)
          .post(`/api/v1/images?name=${encodeURIComponent(name)}`)
          .set(bearer(admin))
          .set('Content-Type', 'application/octet-stream')
          .send(iso),
        400,
        'VALIDATION_FAILED',
      );
    }
    const big = Buffer.alloc(2 * 1024 * 1024, 1);
    expectProblem(
      await request(t.http)
        .post('/api/v1/images?name=big.iso')
        .set(bearer(admin))
        .set('Content-Type', 'application/octet-stream')
        .send(big),
      413,
      'PAYLOAD_TOO_LARGE',
    );
    expect(readdirSync(t.data.sandbox.imageDir).filter((f) => f.startsWith('.upload-') || f === 'big.iso')).toEqual([]);
    expectProblem(
      await request(t.http)
        .post('/api/v1/images?name=user.iso')
        .set(bearer(user.accessToken))
        .set('Content-Type', 'application/octet-stream')
        .send(iso),
      403,
      'FORBIDDEN',
    );
  });

  it('installs from an ISO: boots CD-ROM first, then ejects the media and boots from disk', async () => {
    const images = (await request(t.http).get('/api/v1/images').set(bearer(user.accessToken)).expect(200)).body.items;
    const iso = images.find((i: { name: string }) => i.name === 'installer.iso');
    const created = await request(t.http)
      .post('/api/v1/vms')
      .set(bearer(user.accessToken))
      .send({ name: 'from-iso', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId: iso.id, start: false })
      .expect(202);
    expect(created.body.vm).toEqual(expect.objectContaining({ bootOrder: ['cdrom', 'hd'], mediaImageId: iso.id }));
    expect((await waitOp(created.headers.location)).status).toBe('succeeded');
    const vmId = created.body.vm.id;
    expect(virsh('dumpxml', '--inactive', `limen-${vmId}`).stdout).toContain('installer.iso');

    expectProblem(await request(t.http).delete(`/api/v1/images/${iso.id}`).set(bearer(admin)), 409, 'IMAGE_IN_USE');

    const ejected = await request(t.http).delete(`/api/v1/vms/${vmId}/media`).set(bearer(user.accessToken)).expect(202);
    expect((await waitOp(ejected.headers.location)).status).toBe('succeeded');
    const patched = await request(t.http)
      .patch(`/api/v1/vms/${vmId}`)
      .set(bearer(user.accessToken))
      .send({ bootOrder: ['hd'] })
      .expect(202);
    const op = await waitOp(patched.headers.location);
    expect(op).toEqual(
      expect.objectContaining({ status: 'succeeded', result: { bootOrder: { config: true, live: false } } }),
    );
    const xml = virsh('dumpxml', '--inactive', `limen-${vmId}`).stdout;
    // The boot disk carries its boot rank (per-device numbers): only it boots now, not the CD-ROM.
    expect(xml.match(/<boot [^>]*\/>/g)).toEqual(["<boot order='1'/>"]);
    expect(/<disk type='file' device='disk'>(?:(?!<\/disk>)[\s\S])*<boot order='1'\/>/.test(xml)).toBe(true);
    expect(xml).not.toContain('installer.iso');
    const vm = (await request(t.http).get(`/api/v1/vms/${vmId}`).set(bearer(user.accessToken)).expect(200)).body;
    expect(vm).toEqual(expect.objectContaining({ bootOrder: ['hd'], mediaImageId: null }));

    const inserted = await request(t.http)
      .post(`/api/v1/vms/${vmId}/media`)
      .set(bearer(user.accessToken))
      .send({ imageId: iso.id })
      .expect(202);
    expect((await waitOp(inserted.headers.location)).status).toBe('succeeded');
    expect((await request(t.http).get(`/api/v1/vms/${vmId}`).set(bearer(user.accessToken))).body.mediaImageId).toBe(
      iso.id,
    );
    const kernel = images.find((i: { kind: string }) => i.kind === 'kernel');
    expectProblem(
      await request(t.http)
        .post(`/api/v1/vms/${vmId}/media`)
        .set(bearer(user.accessToken))
        .send({ imageId: kernel.id }),
      400,
      'VALIDATION_FAILED',
    );

    const del = await request(t.http).delete(`/api/v1/vms/${vmId}`).set(bearer(user.accessToken)).expect(202);
    await waitOp(del.headers.location);
    await request(t.http).delete(`/api/v1/images/${iso.id}`).set(bearer(admin)).expect(204);
    expect(existsSync(join(t.data.sandbox.imageDir, 'installer.iso'))).toBe(false);
  });

  it('clones a disk image copy-on-write and builds a cloud-init seed ISO from hostile-looking input', async () => {
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(t.data.sandbox.imageDir, 'base.qcow2'), '64M']);
    const rescanned = await request(t.http).post('/api/v1/images/rescan').set(bearer(admin)).expect(200);
    const base = rescanned.body.items.find((i: { name: string }) => i.name === 'base.qcow2');
    expect(base).toEqual(expect.objectContaining({ kind: 'disk' }));
    const userData = '#cloud-config\nruncmd:\n  - echo \'$(id)\' "</user-data>" && touch /tmp/ok\n';
    const created = await request(t.http)
      .post('/api/v1/vms')
      .set(bearer(user.accessToken))
      .send({
        name: 'cloudy',
        vcpus: 1,
        memoryMiB: 128,
        diskGiB: 2,
        imageId: base.id,
        start: false,
        cloudInit: { hostname: 'cloudy-1', userData },
      })
      .expect(202);
    expect((await waitOp(created.headers.location)).status).toBe('succeeded');
    const files = vmFiles(t.vmDir, created.body.vm.id);
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', files.disk], { encoding: 'utf8' }));
    expect(info['backing-filename']).toBe(join(t.data.sandbox.imageDir, 'base.qcow2'));
    expect(info['virtual-size']).toBe(2 * 1024 ** 3);
    const extracted = execFileSync('isoinfo', ['-i', files.seed, '-R', '-x', '/user-data']);
    expect(extracted.toString()).toBe(userData);
    expect(execFileSync('isoinfo', ['-i', files.seed, '-R', '-x', '/meta-data']).toString()).toContain('cloudy-1');
    const del = await request(t.http)
      .delete(`/api/v1/vms/${created.body.vm.id}`)
      .set(bearer(user.accessToken))
      .expect(202);
    await waitOp(del.headers.location);
    expect(vmFiles(t.vmDir, created.body.vm.id).all).toEqual([]);
    expect(existsSync(join(t.data.sandbox.imageDir, 'base.qcow2'))).toBe(true);
  });

  it('settles an operation left running by a dead process when the api starts again', async () => {
    const images = (await request(t.http).get('/api/v1/images').set(bearer(user.accessToken))).body.items;
    const kernel = images.find((i: { kind: string }) => i.kind === 'kernel');
    const created = await request(t.http)
      .post('/api/v1/vms')
      .set(bearer(user.accessToken))
      .send({ name: 'survivor', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId: kernel.id, start: false })
      .expect(202);
    await waitOp(created.headers.location);
    const vmId = created.body.vm.id;
    // A start that a crashed process had claimed and never finished.
    const [op]: Array<{ id: string }> = await t.app
      .get(DataSource)
      .query(
        `INSERT INTO operations (kind, status, owner_id, vm_id, claimed_by, heartbeat_at, started_at) VALUES ('vm.start', 'running', $1, $2, $3, now(), now()) RETURNING id`,
        [user.id, vmId, `${hostname()}:999999:dead`],
      );
    await t.close({ keepData: true });

    t = await startTestApp({ MAX_IMAGE_UPLOAD_MIB: '1' }, t.data);
    admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    const settled = await waitOp(`/api/v1/operations/${op.id}`);
    expect(settled.status).toBe('succeeded');
    expect((await request(t.http).get(`/api/v1/vms/${vmId}`).set(bearer(admin)).expect(200)).body.state).toBe(
      'running',
    );
    expect(domainExists(vmId)).toBe(true);
    const del = await request(t.http).delete(`/api/v1/vms/${vmId}`).set(bearer(admin)).expect(202);
    await waitOp(del.headers.location);
    expect(domainExists(vmId)).toBe(false);
  });
});
