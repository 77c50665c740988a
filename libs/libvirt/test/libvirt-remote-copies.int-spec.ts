import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RemoteLibvirtd, startRemoteLibvirtd } from '../../../test/support/remote-libvirtd';
import { createVirtualizationPort, StoragePoolDefinition, VirtualizationPort } from '../src';
import { makeRunDir, qemuIo } from './guest-fixture';

const MIB = 1024 * 1024;

/**
 * exportVolume of a host whose pool folder the api cannot read: a second libvirtd in a mount
 * namespace of its own (scripts/remote-libvirtd.sh), reached at qemu+tcp://127.0.0.1:<port>.
 */
describe('libvirt exportVolume from a remote host', () => {
  const run = makeRunDir('libvirt-remote-copies');
  let remote: RemoteLibvirtd;
  let port: VirtualizationPort;
  let pool: StoragePoolDefinition;

  beforeAll(async () => {
    remote = await startRemoteLibvirtd();
    port = createVirtualizationPort({ adapter: 'libvirt', uri: remote.uri, virtType: 'qemu' });
    pool = { name: `limen-rc${randomBytes(3).toString('hex')}`, type: 'dir', path: remote.poolDir };
    await port.ensureStoragePool(pool);
  }, 240_000);

  afterAll(async () => {
    await port?.close();
    await remote?.stop();
    run.cleanup();
  }, 120_000);

  it('merges an overlay into a standalone qcow2 through a temporary copy on the host, which goes again', async () => {
    const base = { pool: pool.name, name: 'remote-base.qcow2' };
    const overlay = { pool: pool.name, name: 'remote-overlay.qcow2' };
    const basePath = (await port.createVolume({ ...base, sizeBytes: 32 * MIB })).path;
    expect(remote.visibleOutside(basePath)).toBe(false);
    const written = await remote.inside('qemu-io', '-f', 'qcow2', '-c', 'write -P 0xab 0 64k', basePath);
    expect(written.code).toBe(0);
    await port.createVolume({ ...overlay, backing: { ...base, format: 'qcow2' } });

    const file = join(run.dir, 'remote.export');
    const info = await port.exportVolume(overlay, file, { compress: true });
    expect(info).toEqual({ sizeBytes: statSync(file).size, virtualSizeBytes: 32 * MIB });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const image = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', file], { encoding: 'utf8' })) as {
      format: string;
      'virtual-size': number;
      'backing-filename'?: string;
    };
    expect(image).toMatchObject({ format: 'qcow2', 'virtual-size': 32 * MIB });
    expect(image['backing-filename']).toBeUndefined();
    expect(qemuIo(file, 'read -P 0xab 0 64k').ok).toBe(true);

    // Neither the host's temporary volume nor the local download is left.
    expect(((await remote.listInside(pool.path)) ?? []).sort()).toEqual([base.name, overlay.name]);
    expect(readdirSync(run.dir).filter((name) => name !== 'remote.export')).toEqual([]);
  });

  it('refuses a snapshot (UNSUPPORTED) and a missing volume', async () => {
    const overlay = { pool: pool.name, name: 'remote-overlay.qcow2' };
    const file = join(run.dir, 'refused.export');
    await expect(port.exportVolume(overlay, file, { compress: true, snapshot: 'snap-1' })).rejects.toMatchObject({
      code: 'UNSUPPORTED',
    });
    await expect(
      port.exportVolume({ pool: pool.name, name: 'remote-missing.qcow2' }, file, { compress: true }),
    ).rejects.toMatchObject({ code: 'VOLUME_NOT_FOUND' });
    expect(readdirSync(run.dir).filter((name) => name.startsWith('refused') || name.includes('partial'))).toEqual([]);
  });
});
