import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuDirectStorage } from './qemu-direct-storage';

const MiB = 1024 * 1024;

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Against the real filesystem and qemu-img, in a temporary folder. */
describe('QemuDirectStorage', () => {
  let root: string;
  let storage: QemuDirectStorage;
  let vms: string;

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'limen-qd-storage-'));
    storage = new QemuDirectStorage({ stateDir: join(root, 'state') });
    vms = join(root, 'pools', 'vms');
    await storage.ensureStoragePool({ name: 'limen-vms', type: 'dir', path: vms });
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('creates a pool folder 0711, records it, and reports the filesystem under it', async () => {
    expect(statSync(vms).mode & 0o777).toBe(0o711);
    const again = await storage.ensureStoragePool({ name: 'limen-vms', type: 'dir', path: vms });
    expect(again).toMatchObject({ name: 'limen-vms', type: 'dir', path: vms, active: true, autostart: true });
    expect(again.capacityBytes).toBeGreaterThan(0);
    expect(again.availableBytes).toBeGreaterThan(0);
    expect(again.availableBytes).toBeLessThanOrEqual(again.capacityBytes);
    // A folder that exists keeps its mode (IMAGE_DIR, say).
    await storage.ensureStoragePool({ name: 'limen-images', type: 'dir', path: root });
    expect(statSync(root).mode & 0o777).toBe(0o700);
    expect((await storage.listStoragePools()).map((pool) => [pool.name, pool.path])).toEqual([
      ['limen-vms', vms],
      ['limen-images', root],
    ]);
    // Read back by another instance (a restarted api).
    const other = new QemuDirectStorage({ stateDir: join(root, 'state') });
    expect((await other.listStoragePools()).map((pool) => pool.name)).toEqual(['limen-vms', 'limen-images']);
  });

  it('refuses a name recorded for another folder and a folder recorded under another name (STORAGE_CONFLICT)', async () => {
    await expect(
      storage.ensureStoragePool({ name: 'limen-vms', type: 'dir', path: join(root, 'elsewhere') }),
    ).rejects.toMatchObject({ code: 'STORAGE_CONFLICT' });
    await expect(storage.ensureStoragePool({ name: 'limen-other', type: 'dir', path: vms })).rejects.toMatchObject({
      code: 'STORAGE_CONFLICT',
    });
    expect(existsSync(join(root, 'elsewhere'))).toBe(false);
    for (const definition of [
      { name: 'vms', path: vms },
      { name: 'limen-x', path: 'relative' },
      { name: 'limen-x', path: `${root}/../x` },
      { name: 'limen-x', path: '/' },
    ])
      await expect(storage.ensureStoragePool({ ...definition, type: 'dir' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
  });

  it('creates, reads, grows and deletes volumes as files of the pool folder', async () => {
    const disk = await storage.createVolume({ pool: 'limen-vms', name: 'd.qcow2', sizeBytes: 16 * MiB });
    expect(disk).toMatchObject({ pool: 'limen-vms', name: 'd.qcow2', path: join(vms, 'd.qcow2'), format: 'qcow2' });
    expect(disk.virtualSizeBytes).toBe(16 * MiB);
    expect(statSync(disk.path).mode & 0o777).toBe(0o600);
    const raw = await storage.createVolume({ pool: 'limen-vms', name: 'r.raw', sizeBytes: MiB, format: 'raw' });
    expect(raw).toMatchObject({ format: 'raw', virtualSizeBytes: MiB });
    await expect(storage.createVolume({ pool: 'limen-vms', name: 'd.qcow2', sizeBytes: MiB })).rejects.toMatchObject({
      code: 'VOLUME_EXISTS',
    });
    expect((await storage.resizeVolume({ pool: 'limen-vms', name: 'd.qcow2' }, 32 * MiB)).virtualSizeBytes).toBe(
      32 * MiB,
    );
    await expect(storage.resizeVolume({ pool: 'limen-vms', name: 'd.qcow2' }, MiB)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await storage.deleteVolume({ pool: 'limen-vms', name: 'd.qcow2' });
    await storage.deleteVolume({ pool: 'limen-vms', name: 'd.qcow2' });
    await storage.deleteVolume({ pool: 'limen-nowhere', name: 'd.qcow2' });
    await expect(storage.getVolume({ pool: 'limen-vms', name: 'd.qcow2' })).rejects.toMatchObject({
      code: 'VOLUME_NOT_FOUND',
    });
    await expect(storage.getVolume({ pool: 'limen-nowhere', name: 'x' })).rejects.toMatchObject({
      code: 'VOLUME_NOT_FOUND',
    });
    for (const name of ['../x', '.hidden', 'a/b', 'x y'])
      await expect(storage.createVolume({ pool: 'limen-vms', name, sizeBytes: MiB })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
  });

  it('layers an overlay over a volume of another pool, and clones it into a standalone full copy', async () => {
    const images = join(root, 'images');
    await storage.ensureStoragePool({ name: 'limen-images', type: 'dir', path: images });
    const base = join(root, 'base.raw');
    writeFileSync(base, Buffer.alloc(2 * MiB, 0x5a));
    await storage.uploadVolume({ pool: 'limen-images', name: 'base.raw' }, base, { format: 'raw' });
    const overlay = await storage.createVolume({
      pool: 'limen-vms',
      name: 'o.qcow2',
      backing: { pool: 'limen-images', name: 'base.raw', format: 'raw' },
    });
    expect(overlay).toMatchObject({ backingPath: join(images, 'base.raw'), virtualSizeBytes: 2 * MiB });
    const clone = await storage.cloneVolume(
      { pool: 'limen-vms', name: 'o.qcow2' },
      { pool: 'limen-vms', name: 'c.qcow2' },
    );
    expect(clone).toMatchObject({ format: 'qcow2', virtualSizeBytes: 2 * MiB });
    expect(clone.backingPath).toBeUndefined();
    const flat = join(root, 'flat.raw');
    await storage.downloadVolume({ pool: 'limen-vms', name: 'c.qcow2' }, join(root, 'c.qcow2'));
    execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', join(root, 'c.qcow2'), flat]);
    expect(sha256(flat)).toBe(sha256(base));
    await expect(
      storage.cloneVolume({ pool: 'limen-vms', name: 'o.qcow2' }, { pool: 'limen-vms', name: 'c.qcow2' }),
    ).rejects.toMatchObject({ code: 'VOLUME_EXISTS' });
  });

  it('uploads and downloads bytes unchanged, refuses a file that is not the format named, and leaves nothing then', async () => {
    const local = join(root, 'image.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', local, '8M']);
    const uploaded = await storage.uploadVolume({ pool: 'limen-vms', name: 'i.qcow2' }, local, { format: 'qcow2' });
    expect(uploaded).toMatchObject({ format: 'qcow2', virtualSizeBytes: 8 * MiB });
    expect(sha256(uploaded.path)).toBe(sha256(local));
    await expect(
      storage.uploadVolume({ pool: 'limen-vms', name: 'i.qcow2' }, local, { format: 'qcow2' }),
    ).rejects.toMatchObject({ code: 'VOLUME_EXISTS' });
    const notQcow2 = join(root, 'text');
    writeFileSync(notQcow2, 'hello');
    await expect(
      storage.uploadVolume({ pool: 'limen-vms', name: 'bad.qcow2' }, notQcow2, { format: 'qcow2' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      storage.uploadVolume({ pool: 'limen-vms', name: 'gone.qcow2' }, join(root, 'missing'), { format: 'qcow2' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(readdirSync(vms).sort()).toEqual(['i.qcow2']);

    const copy = join(root, 'copy.qcow2');
    writeFileSync(copy, 'old content');
    await storage.downloadVolume({ pool: 'limen-vms', name: 'i.qcow2' }, copy);
    expect(sha256(copy)).toBe(sha256(local));
    await expect(storage.downloadVolume({ pool: 'limen-vms', name: 'nope.qcow2' }, copy)).rejects.toMatchObject({
      code: 'VOLUME_NOT_FOUND',
    });
  });

  it('writes the seed ISO into the pool, replacing the previous one', async () => {
    const ref = { pool: 'limen-vms', name: 'vm-seed.iso' };
    const first = await storage.createSeedIso({ ...ref, metaData: 'instance-id: a\n', userData: '#cloud-config\n' });
    expect(first).toMatchObject({ path: join(vms, 'vm-seed.iso'), format: 'raw' });
    const before = sha256(first.path);
    await storage.createSeedIso({ ...ref, metaData: 'instance-id: b\n', userData: '#cloud-config\n' });
    expect(sha256(first.path)).not.toBe(before);
    expect(statSync(first.path).mode & 0o777).toBe(0o600);
    expect(readdirSync(vms)).toEqual(['vm-seed.iso']);
  });
});
