import { generateKeyPairSync } from 'node:crypto';
import { parseKey } from 'sshpk';
import { AuthUser } from '../auth/decorators';
import { SshKeysService } from './ssh-keys.service';
import { FakeSshKeyRepository } from './testing/fake-ssh-key-repository';

const alice: AuthUser = { id: 'alice', username: 'alice', role: 'user' };
const bob: AuthUser = { id: 'bob', username: 'bob', role: 'user' };
const admin: AuthUser = { id: 'root', username: 'admin', role: 'admin' };

function ed25519(comment = 'me@host'): string {
  const pem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
  return `${parseKey(pem, 'pem').toString('ssh').split(' ').slice(0, 2).join(' ')} ${comment}`;
}

function world() {
  const keys = new FakeSshKeyRepository();
  return { keys, service: new SshKeysService(keys.asRepository) };
}

describe('SshKeysService', () => {
  it('creates a key with its type, bits and fingerprint, and lists and gets it for its owner only', async () => {
    const { service } = world();
    const line = ed25519();
    const key = await service.create(alice, { name: 'laptop', publicKey: `${line}\n` });
    expect(key).toMatchObject({ ownerId: 'alice', name: 'laptop', publicKey: line, type: 'ed25519', bits: 256 });
    expect(key.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect((await service.list(alice, { limit: 50 })).items.map((k) => k.id)).toEqual([key.id]);
    expect((await service.get(alice, key.id)).name).toBe('laptop');
    expect((await service.list(bob, { limit: 50 })).items).toEqual([]);
    for (const other of [bob, admin]) {
      await expect(service.get(other, key.id)).rejects.toMatchObject({ status: 404, code: 'NOT_FOUND' });
      await expect(service.remove(other, key.id)).rejects.toMatchObject({ status: 404 });
    }
  });

  it('refuses a bad key with 400 VALIDATION_FAILED naming publicKey, and stores nothing', async () => {
    const { service, keys } = world();
    await expect(service.create(alice, { name: 'bad', publicKey: 'ssh-rsa AAAAnot-a-key' })).rejects.toMatchObject({
      status: 400,
      code: 'VALIDATION_FAILED',
      extra: { errors: [{ field: 'publicKey', messages: [expect.stringMatching(/not a valid OpenSSH public key/)] }] },
    });
    expect(keys.rows.size).toBe(0);
  });

  it('refuses a second key of the same name or the same key under another name (409); others may have both', async () => {
    const { service } = world();
    const line = ed25519();
    await service.create(alice, { name: 'laptop', publicKey: line });
    await expect(service.create(alice, { name: 'laptop', publicKey: ed25519() })).rejects.toMatchObject({
      status: 409,
      code: 'CONFLICT',
      detail: 'You already have an SSH key named laptop',
    });
    await expect(
      service.create(alice, { name: 'again', publicKey: line.replace('me@host', 'other') }),
    ).rejects.toMatchObject({
      status: 409,
      detail: expect.stringMatching(/^You already have this key \(fingerprint SHA256:/),
    });
    await service.create(bob, { name: 'laptop', publicKey: line });
  });

  it('deletes a key of its owner', async () => {
    const { service, keys } = world();
    const key = await service.create(alice, { name: 'laptop', publicKey: ed25519() });
    await service.remove(alice, key.id);
    expect(keys.rows.size).toBe(0);
    await expect(service.remove(alice, key.id)).rejects.toMatchObject({ status: 404 });
  });

  it('gives the public keys of ids in order, once each, and 404 for one that is not the caller’s', async () => {
    const { service } = world();
    const a = await service.create(alice, { name: 'a', publicKey: ed25519('a') });
    const b = await service.create(alice, { name: 'b', publicKey: ed25519('b') });
    const bobs = await service.create(bob, { name: 'b', publicKey: ed25519('bob') });
    expect(await service.publicKeysOf(alice, [b.id, a.id, b.id])).toEqual([b.publicKey, a.publicKey]);
    expect(await service.publicKeysOf(alice, [])).toEqual([]);
    await expect(service.publicKeysOf(alice, [a.id, bobs.id])).rejects.toMatchObject({
      status: 404,
      detail: `SSH key ${bobs.id} not found`,
    });
  });
});
