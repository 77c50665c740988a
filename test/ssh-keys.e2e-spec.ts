import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { virsh, vmFiles } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(180_000);

const keyDir = mkdtempSync(join(tmpdir(), 'limen-ssh-keys-'));
afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

/** A key pair made by ssh-keygen now: its public line and private key text; null when this ssh-keygen will not make it. */
function keygen(
  name: string,
  ...args: string[]
): { publicKey: string; privateKey: string; fingerprint: string } | null {
  const path = join(keyDir, name);
  const made = spawnSync('ssh-keygen', ['-q', '-N', '', '-C', `${name}@e2e`, '-f', path, ...args], {
    encoding: 'utf8',
  });
  if (made.status !== 0) return null;
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`], { encoding: 'utf8' });
  return {
    publicKey: readFileSync(`${path}.pub`, 'utf8'),
    privateKey: readFileSync(path, 'utf8'),
    fingerprint: fingerprint.split(' ')[1],
  };
}

describe('SSH keys (e2e)', () => {
  let t: TestApp;
  let admin: string;
  let alice: { accessToken: string };
  let bob: { accessToken: string };
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }),
  });
  const ed25519 = keygen('ed25519', '-t', 'ed25519')!;

  beforeAll(async () => {
    t = await startTestApp();
    admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    alice = await createUser(t.http, admin, 'alice');
    bob = await createUser(t.http, admin, 'bob');
    // A blank disk image: keys go to a VM through cloud-init, which kernel images do not take.
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(t.data.sandbox.imageDir, 'blank.qcow2'), '64M']);
    await as(admin).post('/api/v1/images/rescan').expect(200);
  });
  afterAll(async () => {
    for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM vms`)) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`);
    }
    await t.close();
  });

  it('creates, lists, gets and deletes a key, with the fingerprint ssh-keygen prints', async () => {
    const ecdsa = keygen('ecdsa', '-t', 'ecdsa', '-b', '384')!;
    const rsa = keygen('rsa3072', '-t', 'rsa', '-b', '3072')!;
    const created = await as(alice.accessToken)
      .post('/api/v1/ssh-keys')
      .send({ name: 'laptop', publicKey: ed25519.publicKey })
      .expect(201);
    expect(created.body).toEqual({
      id: expect.any(String),
      name: 'laptop',
      publicKey: ed25519.publicKey.trim(),
      type: 'ed25519',
      bits: 256,
      fingerprint: ed25519.fingerprint,
      createdAt: expect.any(String),
    });
    const others = [
      ['ecdsa', ecdsa, 'ecdsa', 384],
      ['rsa', rsa, 'rsa', 3072],
    ] as const;
    for (const [name, key, type, bits] of others) {
      const res = await as(alice.accessToken).post('/api/v1/ssh-keys').send({ name, publicKey: key.publicKey });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ type, bits, fingerprint: key.fingerprint });
    }
    const list = await as(alice.accessToken).get('/api/v1/ssh-keys').expect(200);
    expect(list.body.items.map((k: { name: string }) => k.name)).toEqual(['rsa', 'ecdsa', 'laptop']);
    expect((await as(alice.accessToken).get(`/api/v1/ssh-keys/${created.body.id}`).expect(200)).body).toEqual(
      created.body,
    );
    await as(alice.accessToken).delete(`/api/v1/ssh-keys/${created.body.id}`).expect(204);
    expectProblem(await as(alice.accessToken).get(`/api/v1/ssh-keys/${created.body.id}`), 404, 'NOT_FOUND');
    const audit = await as(admin).get('/api/v1/audit?action=ssh-keys.create').expect(200);
    expect(audit.body.items.length).toBeGreaterThanOrEqual(3);
  });

  it('refuses a short RSA key made by ssh-keygen, DSA, private keys, several lines and garbage with 400', async () => {
    const short = keygen('rsa1024', '-t', 'rsa', '-b', '1024')!;
    const dsa = keygen('dsa', '-t', 'dsa');
    const cases: Array<[string, string, RegExp]> = [
      ['a 1024-bit RSA key', short.publicKey, /1024 bits; at least 2048/],
      ['a private key', ed25519.privateKey, /private key/],
      ['two keys', `${ed25519.publicKey}${short.publicKey}`, /one line/],
      ['garbage', 'not a key at all', /not a valid OpenSSH public key/],
      ['a corrupted key', ed25519.publicKey.replace(/AAAA(.{8})/, 'AAAA$1$1'), /not a valid/],
    ];
    if (dsa) cases.push(['a DSA key', dsa.publicKey, /DSA keys are refused/]);
    for (const [what, publicKey, reason] of cases) {
      const res = await as(alice.accessToken).post('/api/v1/ssh-keys').send({ name: 'bad', publicKey });
      expectProblem(res, 400, 'VALIDATION_FAILED');
      expect({ what, detail: res.body.detail }).toEqual({ what, detail: expect.stringMatching(reason) });
      expect(res.body.errors).toEqual([{ field: 'publicKey', messages: [res.body.detail] }]);
      // The refusal never quotes the key back.
      const blob = publicKey.split(/\s+/)[1];
      if (blob && blob.length > 20) expect(JSON.stringify(res.body)).not.toContain(blob);
    }
    for (const name of ['', 'has space', '-dash', 'x'.repeat(64), '<b>']) {
      expectProblem(
        await as(alice.accessToken).post('/api/v1/ssh-keys').send({ name, publicKey: ed25519.publicKey }),
        400,
        'VALIDATION_FAILED',
      );
    }
    const stored = await t.app.get(DataSource).query(`SELECT name FROM ssh_keys WHERE name = 'bad'`);
    expect(stored).toEqual([]);
  });

  it('refuses a duplicate name or the same key twice (409); another user may add the same key', async () => {
    const key = keygen('dup', '-t', 'ed25519')!;
    await as(alice.accessToken).post('/api/v1/ssh-keys').send({ name: 'dup', publicKey: key.publicKey }).expect(201);
    const again = await as(alice.accessToken)
      .post('/api/v1/ssh-keys')
      .send({ name: 'dup', publicKey: ed25519.publicKey });
    expectProblem(again, 409, 'CONFLICT');
    const sameKey = await as(alice.accessToken)
      .post('/api/v1/ssh-keys')
      .send({ name: 'dup2', publicKey: key.publicKey });
    expectProblem(sameKey, 409, 'CONFLICT');
    await as(bob.accessToken).post('/api/v1/ssh-keys').send({ name: 'dup', publicKey: key.publicKey }).expect(201);
  });

  it("hides one user's keys from another (404 for get, delete and sshKeyIds), admins included", async () => {
    const key = keygen('private', '-t', 'ed25519')!;
    const mine = await as(alice.accessToken)
      .post('/api/v1/ssh-keys')
      .send({ name: 'private', publicKey: key.publicKey })
      .expect(201);
    for (const token of [bob.accessToken, admin]) {
      expectProblem(await as(token).get(`/api/v1/ssh-keys/${mine.body.id}`), 404, 'NOT_FOUND');
      expectProblem(await as(token).delete(`/api/v1/ssh-keys/${mine.body.id}`), 404, 'NOT_FOUND');
      const listed = await as(token).get('/api/v1/ssh-keys').expect(200);
      expect(listed.body.items.map((k: { id: string }) => k.id)).not.toContain(mine.body.id);
    }
    const imageId = await blankImageId(bob.accessToken);
    const vm = { name: 'stolen-key', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: false };
    expectProblem(
      await as(bob.accessToken)
        .post('/api/v1/vms')
        .send({ ...vm, sshKeyIds: [mine.body.id] }),
      404,
      'NOT_FOUND',
    );
    expect(await t.app.get(DataSource).query(`SELECT id FROM vms WHERE name = 'stolen-key'`)).toEqual([]);
    expectProblem(
      await as(bob.accessToken)
        .post('/api/v1/vms')
        .send({ ...vm, sshKeyIds: ['not-a-uuid'] }),
      400,
      'VALIDATION_FAILED',
    );
    await as(alice.accessToken).get(`/api/v1/ssh-keys/${mine.body.id}`).expect(200);
  });

  it("writes the VM's keys (sshKeyIds and inline) into its seed's user-data, and a later key delete changes nothing", async () => {
    const key = keygen('seeded', '-t', 'ed25519')!;
    const inline = keygen('inline', '-t', 'ed25519')!;
    const created = await as(alice.accessToken)
      .post('/api/v1/ssh-keys')
      .send({ name: 'seeded', publicKey: key.publicKey })
      .expect(201);
    const imageId = await blankImageId(alice.accessToken);
    const res = await as(alice.accessToken)
      .post('/api/v1/vms')
      .send({
        name: 'with-keys',
        vcpus: 1,
        memoryMiB: 128,
        diskGiB: 1,
        imageId,
        start: false,
        sshKeyIds: [created.body.id],
        cloudInit: { sshAuthorizedKeys: [inline.publicKey.trim()] },
      })
      .expect(202);
    await as(alice.accessToken).delete(`/api/v1/ssh-keys/${created.body.id}`).expect(204);
    const op = await as(alice.accessToken).get(`${res.headers.location}/wait?timeout=60`).expect(200);
    expect(op.body).toMatchObject({ status: 'succeeded' });
    const { seed } = vmFiles(t.vmDir, res.body.vm.id);
    const userData = execFileSync('isoinfo', ['-i', seed, '-J', '-x', '/user-data'], { encoding: 'utf8' });
    expect(userData).toBe(
      `#cloud-config\nssh_authorized_keys:\n  - ${JSON.stringify(inline.publicKey.trim())}\n  - ${JSON.stringify(key.publicKey.trim())}\n`,
    );
  });

  async function blankImageId(token: string): Promise<string> {
    const images = await as(token).get('/api/v1/images').expect(200);
    return images.body.items.find((i: { name: string; kind: string }) => i.kind === 'disk').id;
  }
});
