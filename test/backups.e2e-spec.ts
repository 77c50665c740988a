import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';
import { operationHelpers } from './support/operations';

jest.setTimeout(600_000);

interface Disk {
  id: string;
  position: number;
  sizeGiB: number;
  serial: string;
}

interface Manifest {
  formatVersion: number;
  consistency: string;
  vm: { id: string; name: string; vcpus: number; memoryMiB: number };
  disks: Array<{ position: number; file: string; sizeBytes: number; sha256: string; serial: string }>;
}

/** Collects a binary body as a Buffer (supertest parses only text and JSON by itself). */
function binary(res: request.Response, callback: (error: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('end', () => callback(null, Buffer.concat(chunks)));
}

/**
 * Backups over the real app: PostgreSQL (or PGlite), libvirt and the tiny guest (a kernel image
 * whose disks are blank, so a pattern written into a disk with qemu-io is the data that must come
 * back). The guest has no agent: a running VM's backup is crash-consistent.
 */
describe('Backups (e2e, real libvirt, the tiny guest)', () => {
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
  const { settle, succeeded, createVm, booted } = operationHelpers(api, () => imageId);
  const backupDir = () => join(t.dataDir, 'backups');

  async function backUp(vmId: string): Promise<{ id: string; state: string; consistency: string; sizeBytes: number }> {
    const res = await api().post(`/api/v1/vms/${vmId}/backups`).send({});
    await succeeded(res);
    return (await api().get(`/api/v1/backups/${res.body.backup.id}`).expect(200)).body;
  }

  const disksOf = async (vmId: string): Promise<Disk[]> =>
    (await api().get(`/api/v1/vms/${vmId}/disks`).expect(200)).body.items;
  const volumePath = (vmId: string, diskId: string) =>
    virsh('vol-path', '--pool', pool, `${vmId}-disk-${diskId}.qcow2`).stdout.trim();
  /** Writes `pattern` (a byte) over the first 64 KiB of a stopped VM's disk. */
  const writePattern = (path: string, pattern: number) => {
    const run = spawnSync('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pattern} 0 64k`, path], { encoding: 'utf8' });
    expect(run.status).toBe(0);
  };
  /** Whether the first 64 KiB of the disk hold `pattern`. */
  const holdsPattern = (path: string, pattern: number): boolean =>
    spawnSync('qemu-io', ['-f', 'qcow2', '-r', '-U', '-c', `read -P ${pattern} 0 64k`, path], {
      encoding: 'utf8',
    }).stdout.includes('read 65536/65536');
  const poolVolumes = (): string[] => {
    virsh('pool-refresh', pool);
    return virsh('vol-list', pool)
      .stdout.split('\n')
      .slice(2)
      .map((line) => line.trim().split(/\s+/)[0])
      .filter(Boolean);
  };
  const usage = async () => (await api().get('/api/v1/quota').expect(200)).body.usage.backupGiB as number;
  const flip = (path: string) => {
    const fd = openSync(path, 'r+');
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, 200);
    byte[0] ^= 0xff;
    writeSync(fd, byte, 0, 1, 200);
    closeSync(fd);
  };

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

  let stoppedId: string;
  let backupId: string;
  let manifest: Manifest;

  it('backs up a stopped VM: listed, read, its manifest and its disks downloadable whole and by range; nobody else sees it', async () => {
    stoppedId = await createVm('backup-src', false);
    const [boot] = await disksOf(stoppedId);
    writePattern(volumePath(stoppedId, boot.id), 0x5a);
    const backup = await backUp(stoppedId);
    backupId = backup.id;
    expect(backup).toMatchObject({ state: 'ready', consistency: 'filesystem', vmId: stoppedId, vmName: 'backup-src' });
    expect(readdirSync(backupDir())).toEqual([backupId]);
    expect(readdirSync(join(backupDir(), backupId)).sort()).toEqual(['disk-0.qcow2', 'disk-1.qcow2', 'manifest.json']);
    // No temporary volume or partial folder is left.
    expect(poolVolumes().filter((name) => name.includes('-backup-'))).toEqual([]);

    expect(
      (await api().get(`/api/v1/vms/${stoppedId}/backups`).expect(200)).body.items.map((b: { id: string }) => b.id),
    ).toEqual([backupId]);
    expect((await api().get('/api/v1/backups').expect(200)).body.items.map((b: { id: string }) => b.id)).toEqual([
      backupId,
    ]);
    manifest = (await api().get(`/api/v1/backups/${backupId}/manifest`).expect(200)).body;
    expect(manifest).toMatchObject({
      formatVersion: 1,
      consistency: 'filesystem',
      vm: { id: stoppedId, vcpus: 1, memoryMiB: 128 },
    });
    expect(manifest.disks.map((d) => d.position)).toEqual([0, 1]);
    expect(backup.sizeBytes).toBe(manifest.disks.reduce((total, d) => total + d.sizeBytes, 0));
    expect(await usage()).toBeCloseTo(backup.sizeBytes / 1024 ** 3, 6);

    const whole = await api().get(`/api/v1/backups/${backupId}/disks/0`).buffer(true).parse(binary).expect(200);
    expect(whole.headers['accept-ranges']).toBe('bytes');
    expect(whole.headers['etag']).toBe(`"${manifest.disks[0].sha256}"`);
    expect(whole.headers['content-type']).toBe('application/octet-stream');
    const body = whole.body as Buffer;
    expect(body.length).toBe(manifest.disks[0].sizeBytes);
    expect(createHash('sha256').update(body).digest('hex')).toBe(manifest.disks[0].sha256);
    const part = await api()
      .get(`/api/v1/backups/${backupId}/disks/0`)
      .set('Range', 'bytes=100-199')
      .buffer(true)
      .parse(binary)
      .expect(206);
    expect(part.headers['content-range']).toBe(`bytes 100-199/${body.length}`);
    expect(Buffer.compare(part.body as Buffer, body.subarray(100, 200))).toBe(0);
    const tail = await api()
      .get(`/api/v1/backups/${backupId}/disks/0`)
      .set('Range', 'bytes=-10')
      .buffer(true)
      .parse(binary)
      .expect(206);
    expect(Buffer.compare(tail.body as Buffer, body.subarray(body.length - 10))).toBe(0);
    const beyond = await api().get(`/api/v1/backups/${backupId}/disks/0`).set('Range', `bytes=${body.length}-`);
    expectProblem(beyond, 416, 'RANGE_NOT_SATISFIABLE');
    expect(beyond.headers['content-range']).toBe(`bytes */${body.length}`);

    // Another user: 404 everywhere, and an empty list.
    const asBob = as(bob.accessToken);
    for (const res of [
      await asBob.get(`/api/v1/backups/${backupId}`),
      await asBob.get(`/api/v1/backups/${backupId}/manifest`),
      await asBob.get(`/api/v1/backups/${backupId}/disks/0`),
      await asBob.post(`/api/v1/backups/${backupId}/restore`).send({ target: 'new' }),
      await asBob.delete(`/api/v1/backups/${backupId}`),
      await asBob.get(`/api/v1/vms/${stoppedId}/backups`),
      await asBob.post(`/api/v1/vms/${stoppedId}/backups`).send({}),
    ])
      expectProblem(res, 404, 'NOT_FOUND');
    expect((await asBob.get('/api/v1/backups').expect(200)).body.items).toEqual([]);
    // Admins see everyone's, or one owner's.
    expect(
      (await as(admin.accessToken).get(`/api/v1/backups?ownerId=${alice.id}`).expect(200)).body.items,
    ).toHaveLength(1);
  });

  it('refuses hostile input with 4xx problems and changes nothing', async () => {
    const count = async () => Number((await db.query(`SELECT count(*) AS n FROM backups`))[0].n);
    const before = await count();
    expectProblem(await api().get('/api/v1/backups/not-a-uuid'), 400, 'VALIDATION_FAILED');
    expectProblem(await api().get(`/api/v1/backups/${backupId}/disks/zero`), 400, 'VALIDATION_FAILED');
    expectProblem(await api().get(`/api/v1/backups/${backupId}/disks/1.5`), 400, 'VALIDATION_FAILED');
    expectProblem(await api().get(`/api/v1/backups/${backupId}/disks/7`), 404, 'NOT_FOUND');
    expectProblem(await api().get(`/api/v1/backups/${backupId}/disks/-1`), 404, 'NOT_FOUND');
    expectProblem(await api().get('/api/v1/backups?vmId=nope'), 400, 'VALIDATION_FAILED');
    expectProblem(await api().get('/api/v1/backups?limit=0'), 400, 'VALIDATION_FAILED');
    expectProblem(
      await api()
        .post(`/api/v1/vms/${stoppedId}/backups`)
        .send({ disks: [0] }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(await api().post('/api/v1/vms/not-a-uuid/backups').send({}), 400, 'VALIDATION_FAILED');
    for (const body of [
      {},
      { target: 'elsewhere' },
      { target: 'new', name: 'Bad Name' },
      { target: 'new', name: 'x'.repeat(64) },
      { target: 'new', name: null },
      { target: 'new', start: 'yes' },
      { target: 'new', extra: 1 },
      { target: 'original', name: 'other' },
    ])
      expectProblem(await api().post(`/api/v1/backups/${backupId}/restore`).send(body), 400, 'VALIDATION_FAILED');
    expect(await count()).toBe(before);
    expect((await api().get(`/api/v1/backups/${backupId}`).expect(200)).body.state).toBe('ready');
    expect((await db.query(`SELECT count(*) AS n FROM vms`))[0].n).toBe('1');
  });

  it('backs up a running VM crash-consistently (no agent), and it keeps running', async () => {
    const runningId = await createVm('backup-running', true);
    await booted(runningId);
    const backup = await backUp(runningId);
    expect(backup).toMatchObject({ state: 'ready', consistency: 'crash' });
    expect((await api().get(`/api/v1/vms/${runningId}`).expect(200)).body.state).toBe('running');
    expect(poolVolumes().filter((name) => name.includes('-backup-'))).toEqual([]);
    await api().delete(`/api/v1/backups/${backup.id}`).expect(204);
    await succeeded(await api().delete(`/api/v1/vms/${runningId}`));
  });

  it('restores into a new VM that boots with the backed-up data', async () => {
    const res = await api().post(`/api/v1/backups/${backupId}/restore`).send({ target: 'new', name: 'backup-new' });
    await succeeded(res);
    const newId: string = res.body.vm.id;
    expect(res.body.vm).toMatchObject({ name: 'backup-new', vcpus: 1, memoryMiB: 128, diskGiB: 2 });
    const disks = await disksOf(newId);
    expect(disks.map((d) => d.serial)).toEqual(manifest.disks.map((d) => d.serial));
    await booted(newId);
    await succeeded(await api().post(`/api/v1/vms/${newId}/actions`).send({ action: 'stop' }));
    expect(holdsPattern(volumePath(newId, disks[0].id), 0x5a)).toBe(true);
    expect((await api().get(`/api/v1/backups/${backupId}`).expect(200)).body.state).toBe('ready');
    await succeeded(await api().delete(`/api/v1/vms/${newId}`));
  });

  it('a flipped byte is refused with BACKUP_CORRUPT and the original is untouched; a good restore over the stopped original brings the data back', async () => {
    const [boot] = await disksOf(stoppedId);
    writePattern(volumePath(stoppedId, boot.id), 0x11);
    await succeeded(await api().post(`/api/v1/vms/${stoppedId}/snapshots`).send({ name: 'before' }));
    const disksBefore = await disksOf(stoppedId);
    const file = join(backupDir(), backupId, 'disk-1.qcow2');
    flip(file);
    const refused = await api().post(`/api/v1/backups/${backupId}/restore`).send({ target: 'original' });
    expect(refused.status).toBe(202);
    const op = await settle(refused.headers.location);
    expect(op).toMatchObject({ status: 'failed', error: { code: 'BACKUP_CORRUPT' } });
    expect(await disksOf(stoppedId)).toEqual(disksBefore);
    expect(holdsPattern(volumePath(stoppedId, boot.id), 0x11)).toBe(true);
    expect((await api().get(`/api/v1/vms/${stoppedId}/snapshots`).expect(200)).body.items).toHaveLength(1);
    // Into a new VM as well: refused, and the new VM is gone again.
    const refusedNew = await api().post(`/api/v1/backups/${backupId}/restore`).send({ target: 'new' });
    expect(await settle(refusedNew.headers.location)).toMatchObject({
      status: 'failed',
      error: { code: 'BACKUP_CORRUPT' },
    });
    expectProblem(await api().get(`/api/v1/vms/${refusedNew.body.vm.id}`), 404, 'NOT_FOUND');
    flip(file);

    // A running VM cannot be restored over.
    await succeeded(await api().post(`/api/v1/vms/${stoppedId}/actions`).send({ action: 'start' }));
    expectProblem(
      await api().post(`/api/v1/backups/${backupId}/restore`).send({ target: 'original' }),
      409,
      'INVALID_STATE',
    );
    await succeeded(await api().post(`/api/v1/vms/${stoppedId}/actions`).send({ action: 'stop' }));

    const restored = await api().post(`/api/v1/backups/${backupId}/restore`).send({ target: 'original' });
    await succeeded(restored);
    const disksAfter = await disksOf(stoppedId);
    expect(disksAfter.map((d) => d.serial)).toEqual(disksBefore.map((d) => d.serial));
    expect(disksAfter.map((d) => d.id)).not.toEqual(disksBefore.map((d) => d.id));
    expect(holdsPattern(volumePath(stoppedId, disksAfter[0].id), 0x5a)).toBe(true);
    const volumes = poolVolumes();
    for (const disk of disksBefore) expect(volumes).not.toContain(`${stoppedId}-disk-${disk.id}.qcow2`);
    expect((await api().get(`/api/v1/vms/${stoppedId}/snapshots`).expect(200)).body.items).toEqual([]);
    await succeeded(await api().post(`/api/v1/vms/${stoppedId}/actions`).send({ action: 'start' }));
    await booted(stoppedId);
    await succeeded(await api().post(`/api/v1/vms/${stoppedId}/actions`).send({ action: 'stop' }));
  });

  it('refuses a backup beyond backupGiB (403 QUOTA_EXCEEDED); delete frees the files and the quota', async () => {
    await as(admin.accessToken).put(`/api/v1/users/${alice.id}/quota`).send({ backupGiB: 0 }).expect(200);
    expectProblem(await api().post(`/api/v1/vms/${stoppedId}/backups`).send({}), 403, 'QUOTA_EXCEEDED');
    await as(admin.accessToken).put(`/api/v1/users/${alice.id}/quota`).send({ backupGiB: null }).expect(200);

    await api().delete(`/api/v1/backups/${backupId}`).expect(204);
    expect(existsSync(join(backupDir(), backupId))).toBe(false);
    expectProblem(await api().get(`/api/v1/backups/${backupId}`), 404, 'NOT_FOUND');
    expect((await api().get('/api/v1/backups').expect(200)).body.items).toEqual([]);
    expect(await usage()).toBe(0);
    expect(readdirSync(backupDir())).toEqual([]);
  });
});
