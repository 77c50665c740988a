import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibvirtStorage } from '../src/adapters/libvirt/libvirt-storage';
import { VolumeRef } from '../src/models';
import { VirshPool } from '../src/transport/virsh-pool';
import { qemuIo } from './guest-fixture';

const URI = 'qemu:///system';
const ROOT = '/var/lib/limen/test-pools';
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-c', URI, ...args], { encoding: 'utf8', stdio: 'pipe' });
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function qemuImgInfo(
  path: string,
): { 'backing-filename'?: string; 'backing-filename-format'?: string } & Record<string, unknown> {
  return JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', path], { encoding: 'utf8' })) as {
    'backing-filename'?: string;
  };
}

/** Holds an image's write lock the way a running VM's QEMU does, until killed; resolves once the lock is taken. */
async function holdImage(path: string): Promise<ChildProcess> {
  const child = spawn('qemu-io', ['-f', 'qcow2', '-c', 'sleep 600000', path], { stdio: 'ignore' });
  for (let waited = 0; waited < 20_000; waited += 100) {
    try {
      // Without -U, qemu-img wants the lock a writer holds: it fails once qemu-io has it.
      execFileSync('qemu-img', ['info', path], { stdio: 'pipe' });
    } catch {
      return child;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`qemu-io did not lock ${path}`);
}

/** The LIMEN storage of the local libvirtd through pools in fresh folders under /var/lib/limen/test-pools. */
describe('LibvirtStorage on the real libvirtd', () => {
  const id = randomBytes(4).toString('hex');
  const poolName = `limen-t${id}`;
  const folder = join(ROOT, id);
  const otherPool = `limen-t${id}-b`;
  const otherFolder = join(ROOT, `${id}-b`);
  const scratch = mkdtempSync(join(tmpdir(), 'limen-storage-'));
  let sessions: VirshPool;
  let storage: LibvirtStorage;
  const ref = (name: string): VolumeRef => ({ pool: poolName, name });
  const pools = (): string[] =>
    virsh('pool-list', '--all', '--name')
      .split('\n')
      .map((name) => name.trim())
      .filter(Boolean);

  beforeAll(() => {
    sessions = new VirshPool({ uri: URI, size: 2 });
    storage = new LibvirtStorage({ pool: sessions });
  });

  afterAll(async () => {
    for (const name of [poolName, otherPool, `limen-t${id}-c`]) {
      for (const command of ['pool-destroy', 'pool-undefine']) {
        try {
          virsh(command, name);
        } catch {
          // not there
        }
      }
    }
    for (const dir of [folder, otherFolder, scratch]) rmSync(dir, { recursive: true, force: true });
    await sessions.close();
  });

  it('ensures a dir pool once: defined, built 0711, started, autostarted; again it changes nothing', async () => {
    const first = await storage.ensureStoragePool({ name: poolName, type: 'dir', path: folder });
    expect(first).toMatchObject({ name: poolName, type: 'dir', path: folder, active: true, autostart: true });
    expect(first.capacityBytes).toBeGreaterThan(0);
    expect(first.availableBytes).toBeGreaterThan(0);
    expect(statSync(folder).mode & 0o777).toBe(0o711);
    const uuid = virsh('pool-uuid', poolName).trim();
    const again = await storage.ensureStoragePool({ name: poolName, type: 'dir', path: folder });
    expect(again).toMatchObject({ name: poolName, path: folder, active: true, autostart: true });
    expect(virsh('pool-uuid', poolName).trim()).toBe(uuid);
    expect(virsh('pool-info', poolName)).toMatch(/State:\s+running[\s\S]*Autostart:\s+yes/);

    // Stopped (libvirtd restart without autostart, an operator): started again, files kept.
    writeFileSync(join(folder, 'kept.raw'), 'x');
    virsh('pool-destroy', poolName);
    await expect(storage.ensureStoragePool({ name: poolName, type: 'dir', path: folder })).resolves.toMatchObject({
      active: true,
    });
    expect(existsSync(join(folder, 'kept.raw'))).toBe(true);
    rmSync(join(folder, 'kept.raw'));
  });

  it('refuses a pool name with another folder, and a second pool over the same folder (STORAGE_CONFLICT)', async () => {
    await expect(storage.ensureStoragePool({ name: poolName, type: 'dir', path: otherFolder })).rejects.toMatchObject({
      code: 'STORAGE_CONFLICT',
    });
    await expect(storage.ensureStoragePool({ name: otherPool, type: 'dir', path: folder })).rejects.toMatchObject({
      code: 'STORAGE_CONFLICT',
    });
    expect(pools()).not.toContain(otherPool);
    expect(existsSync(otherFolder)).toBe(false);
    expect(virsh('pool-dumpxml', poolName)).toContain(`<path>${folder}</path>`);
  });

  it('lists LIMEN pools refreshed: a file written into the folder since is counted as a volume', async () => {
    writeFileSync(join(folder, 'outside.raw'), randomBytes(4096));
    const listed = await storage.listStoragePools();
    const mine = listed.find((pool) => pool.name === poolName);
    expect(mine).toMatchObject({ type: 'dir', path: folder, active: true, autostart: true });
    expect(mine?.capacityBytes).toBeGreaterThanOrEqual((mine?.availableBytes ?? 0) + 1);
    expect(listed.every((pool) => pool.name.startsWith('limen-'))).toBe(true);
    await expect(storage.getVolume(ref('outside.raw'))).resolves.toMatchObject({
      format: 'raw',
      virtualSizeBytes: 4096,
    });
    await storage.deleteVolume(ref('outside.raw'));
  });

  it('creates an empty qcow2 (v3, sparse, 0600) and reports its sizes; VOLUME_EXISTS, for an unlisted file too', async () => {
    const created = await storage.createVolume({ ...ref('empty.qcow2'), sizeBytes: GiB });
    expect(created).toEqual({
      ...ref('empty.qcow2'),
      path: join(folder, 'empty.qcow2'),
      format: 'qcow2',
      virtualSizeBytes: GiB,
      actualSizeBytes: expect.any(Number),
    });
    expect(created.actualSizeBytes).toBeLessThan(MiB);
    expect(statSync(created.path).mode & 0o777).toBe(0o600);
    expect(qemuImgInfo(created.path)).toMatchObject({
      'virtual-size': GiB,
      'format-specific': { data: { compat: '1.1' } },
    });
    await expect(storage.getVolume(ref('empty.qcow2'))).resolves.toEqual(created);

    await expect(storage.createVolume({ ...ref('empty.qcow2'), sizeBytes: 2 * GiB })).rejects.toMatchObject({
      code: 'VOLUME_EXISTS',
    });
    expect((await storage.getVolume(ref('empty.qcow2'))).virtualSizeBytes).toBe(GiB);
    // A file libvirt has not listed (written behind its back) is not overwritten either.
    writeFileSync(join(folder, 'stray.qcow2'), 'mine');
    await expect(storage.createVolume({ ...ref('stray.qcow2'), sizeBytes: GiB })).rejects.toMatchObject({
      code: 'VOLUME_EXISTS',
    });
    expect(readFileSync(join(folder, 'stray.qcow2'), 'utf8')).toBe('mine');
    await expect(storage.getVolume(ref('absent.qcow2'))).rejects.toMatchObject({ code: 'VOLUME_NOT_FOUND' });
    await expect(storage.getVolume({ pool: 'limen-nope-xyz', name: 'a.qcow2' })).rejects.toMatchObject({
      code: 'VOLUME_NOT_FOUND',
    });
    await expect(storage.createVolume(ref('nosize.qcow2'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('creates a copy-on-write overlay over a backing volume, backing format pinned, base data visible', async () => {
    const base = await storage.createVolume({ ...ref('base.qcow2'), sizeBytes: 64 * MiB });
    expect(qemuIo(base.path, 'write -P 0xab 0 64k').ok).toBe(true);
    const overlay = await storage.createVolume({
      ...ref('overlay.qcow2'),
      backing: { ...ref('base.qcow2'), format: 'qcow2' },
    });
    expect(overlay).toMatchObject({ format: 'qcow2', virtualSizeBytes: 64 * MiB, backingPath: base.path });
    expect(qemuImgInfo(overlay.path)).toMatchObject({
      'backing-filename': base.path,
      'backing-filename-format': 'qcow2',
    });
    expect(qemuIo(overlay.path, 'read -P 0xab 0 64k').ok).toBe(true);
    const bigger = await storage.createVolume({
      ...ref('overlay-big.qcow2'),
      sizeBytes: 128 * MiB,
      backing: { ...ref('base.qcow2'), format: 'qcow2' },
    });
    expect(bigger.virtualSizeBytes).toBe(128 * MiB);

    // An overlay as backing would make QEMU open its backing file too; a raw file is no qcow2.
    await expect(
      storage.createVolume({ ...ref('chain.qcow2'), backing: { ...ref('overlay.qcow2'), format: 'qcow2' } }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    writeFileSync(join(folder, 'plain.raw'), randomBytes(65536));
    await storage.listStoragePools();
    await expect(
      storage.createVolume({ ...ref('over-raw.qcow2'), backing: { ...ref('plain.raw'), format: 'qcow2' } }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      storage.createVolume({
        ...ref('small.qcow2'),
        sizeBytes: MiB,
        backing: { ...ref('base.qcow2'), format: 'qcow2' },
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    for (const name of ['chain.qcow2', 'over-raw.qcow2', 'small.qcow2'])
      expect(existsSync(join(folder, name))).toBe(false);
    // A raw volume as backing, read as raw.
    const overRaw = await storage.createVolume({
      ...ref('over-raw2.qcow2'),
      backing: { ...ref('plain.raw'), format: 'raw' },
    });
    expect(overRaw).toMatchObject({ virtualSizeBytes: 65536, backingPath: join(folder, 'plain.raw') });
  });

  it('grows a volume, refuses to shrink it without allowShrink, and INVALID_STATE while a process holds it', async () => {
    const grown = await storage.resizeVolume(ref('empty.qcow2'), 2 * GiB);
    expect(grown.virtualSizeBytes).toBe(2 * GiB);
    expect(qemuImgInfo(grown.path)['virtual-size']).toBe(2 * GiB);
    await expect(storage.resizeVolume(ref('empty.qcow2'), GiB)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await storage.getVolume(ref('empty.qcow2'))).virtualSizeBytes).toBe(2 * GiB);
    await expect(storage.resizeVolume(ref('empty.qcow2'), GiB, { allowShrink: true })).resolves.toMatchObject({
      virtualSizeBytes: GiB,
    });
    const holder = await holdImage(grown.path);
    try {
      await expect(storage.resizeVolume(ref('empty.qcow2'), 3 * GiB)).rejects.toMatchObject({ code: 'INVALID_STATE' });
    } finally {
      holder.kill('SIGKILL');
    }
    await expect(storage.resizeVolume(ref('absent.qcow2'), GiB)).rejects.toMatchObject({ code: 'VOLUME_NOT_FOUND' });
  });

  it('clones a volume in full (overlay flattened), refuses an existing target or another pool', async () => {
    const clone = await storage.cloneVolume(ref('overlay.qcow2'), ref('clone.qcow2'));
    expect(clone).toMatchObject({ format: 'qcow2', virtualSizeBytes: 64 * MiB });
    expect(clone.backingPath).toBeUndefined();
    expect(qemuIo(clone.path, 'read -P 0xab 0 64k').ok).toBe(true);
    expect(statSync(clone.path).mode & 0o777).toBe(0o600);
    await expect(storage.cloneVolume(ref('base.qcow2'), ref('clone.qcow2'))).rejects.toMatchObject({
      code: 'VOLUME_EXISTS',
    });
    expect(qemuImgInfo(clone.path)['virtual-size']).toBe(64 * MiB);
    await expect(
      storage.cloneVolume(ref('base.qcow2'), { pool: 'limen-other', name: 'x.qcow2' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(storage.cloneVolume(ref('absent.qcow2'), ref('clone2.qcow2'))).rejects.toMatchObject({
      code: 'VOLUME_NOT_FOUND',
    });
    expect(existsSync(join(folder, 'clone2.qcow2'))).toBe(false);
    // Flattening reads whatever the chain names: a qcow2 whose backing file is a host file is not copied.
    execFileSync('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-F',
      'raw',
      '-b',
      '/etc/hostname',
      join(folder, 'evil.qcow2'),
    ]);
    await storage.listStoragePools();
    await expect(storage.cloneVolume(ref('evil.qcow2'), ref('loot.qcow2'))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(existsSync(join(folder, 'loot.qcow2'))).toBe(false);
    await storage.deleteVolume(ref('evil.qcow2'));
  });

  it('deletes idempotently: a volume, a missing one, one in a missing pool, and a file libvirt did not list', async () => {
    await storage.deleteVolume(ref('clone.qcow2'));
    expect(existsSync(join(folder, 'clone.qcow2'))).toBe(false);
    await storage.deleteVolume(ref('clone.qcow2'));
    await storage.deleteVolume({ pool: 'limen-nope-xyz', name: 'a.qcow2' });
    writeFileSync(join(folder, 'unlisted.raw'), 'x');
    await storage.deleteVolume(ref('unlisted.raw'));
    expect(existsSync(join(folder, 'unlisted.raw'))).toBe(false);
  });

  it('uploads a file and downloads it back byte-identical; the volume and the downloaded file are 0600', async () => {
    const local = join(scratch, 'data.bin');
    writeFileSync(local, randomBytes(5 * MiB + 123));
    const uploaded = await storage.uploadVolume(ref('data.raw'), local, { format: 'raw' });
    expect(uploaded).toMatchObject({ format: 'raw', virtualSizeBytes: 5 * MiB + 123, path: join(folder, 'data.raw') });
    expect(statSync(uploaded.path).mode & 0o777).toBe(0o600);
    const back = join(scratch, 'back.bin');
    await storage.downloadVolume(ref('data.raw'), back);
    expect(sha256(back)).toBe(sha256(local));
    expect(statSync(back).mode & 0o777).toBe(0o600);
    // Replaces an existing local file.
    writeFileSync(back, randomBytes(9 * MiB));
    await storage.downloadVolume(ref('data.raw'), back);
    expect(sha256(back)).toBe(sha256(local));

    // A qcow2 file keeps its format (read as qcow2); VOLUME_EXISTS leaves the volume as it was.
    const image = join(scratch, 'image.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(32 * MiB)]);
    const qcow2 = await storage.uploadVolume(ref('image.qcow2'), image, { format: 'qcow2' });
    expect(qcow2).toMatchObject({ format: 'qcow2', virtualSizeBytes: 32 * MiB });
    await expect(storage.uploadVolume(ref('data.raw'), image, { format: 'qcow2' })).rejects.toMatchObject({
      code: 'VOLUME_EXISTS',
    });
    expect(sha256(uploaded.path)).toBe(sha256(local));
    await expect(storage.downloadVolume(ref('absent.raw'), join(scratch, 'absent.bin'))).rejects.toMatchObject({
      code: 'VOLUME_NOT_FOUND',
    });
    expect(existsSync(join(scratch, 'absent.bin'))).toBe(false);
  });

  it('leaves nothing behind when an upload fails: cut off mid-transfer, wrong format, not a regular file', async () => {
    const before = readdirSync(folder).sort();
    const debian = '/var/lib/limen/cloud-image/debian-12-cloud.qcow2';
    // The kernel copies 300 MiB in tens of milliseconds: only a 1 ms deadline cuts it.
    const impatient = new LibvirtStorage({ pool: sessions, transferTimeoutMs: 1 });
    await expect(impatient.uploadVolume(ref('cut.qcow2'), debian, { format: 'qcow2' })).rejects.toMatchObject({
      code: 'TIMEOUT',
    });
    const random = join(scratch, 'random.bin');
    writeFileSync(random, randomBytes(MiB));
    await expect(storage.uploadVolume(ref('notqcow2.qcow2'), random, { format: 'qcow2' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(storage.uploadVolume(ref('dir.raw'), scratch, { format: 'raw' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      storage.uploadVolume(ref('missing.raw'), join(scratch, 'missing'), { format: 'raw' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(readdirSync(folder).sort()).toEqual(before);
    expect(virsh('vol-list', poolName)).not.toMatch(/cut\.qcow2|notqcow2|dir\.raw|missing\.raw/);
  });

  it('writes a NoCloud seed ISO as a volume (label cidata, the documents inside) and replaces it', async () => {
    const spec = {
      ...ref('vm-seed.iso'),
      metaData: 'instance-id: i-1\nlocal-hostname: seedy\n',
      userData: '#cloud-config\npassword: "s3cret; $(rm -rf /)"\n',
      networkConfig: 'version: 2\n',
    };
    const seed = await storage.createSeedIso(spec);
    expect(seed).toMatchObject({ ...ref('vm-seed.iso'), format: 'raw', path: join(folder, 'vm-seed.iso') });
    expect(seed.virtualSizeBytes).toBeGreaterThan(0);
    expect(statSync(seed.path).mode & 0o777).toBe(0o600);
    const local = join(scratch, 'seed.iso');
    await storage.downloadVolume(ref('vm-seed.iso'), local);
    expect(execFileSync('isoinfo', ['-d', '-i', local], { encoding: 'utf8' })).toMatch(/Volume id: cidata/);
    const read = (file: string): string =>
      execFileSync('isoinfo', ['-R', '-i', local, '-x', `/${file}`], { encoding: 'utf8' });
    expect(read('user-data')).toBe(spec.userData);
    expect(read('meta-data')).toBe(spec.metaData);
    expect(read('network-config')).toBe(spec.networkConfig);

    await storage.createSeedIso({ ...spec, userData: '#cloud-config\nhostname: second\n', networkConfig: undefined });
    await storage.downloadVolume(ref('vm-seed.iso'), local);
    expect(read('user-data')).toBe('#cloud-config\nhostname: second\n');
    expect(execFileSync('isoinfo', ['-R', '-l', '-i', local], { encoding: 'utf8' })).not.toContain('network-config');
    // Bad documents are refused before the seed in place is touched.
    await expect(storage.createSeedIso({ ...spec, userData: undefined as unknown as string })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(existsSync(seed.path)).toBe(true);
  });

  it('tails a file written into the pool behind libvirt (a serial log), and deletes it by path', async () => {
    const log = join(folder, 'vm-serial.log');
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ✓`).join('\n');
    writeFileSync(log, lines);
    const all = readFileSync(log);
    expect(await storage.tailFile(log, 1000)).toBe(all.subarray(all.length - 1000).toString('utf8'));
    appendFileSync(log, '\nLIMEN-GUEST-READY\n');
    const tail = await storage.tailFile(log, 64);
    expect(tail.endsWith('\nLIMEN-GUEST-READY\n')).toBe(true);
    expect(tail).toBe(readFileSync(log).subarray(-64).toString('utf8'));
    expect(await storage.tailFile(log)).toBe(
      readFileSync(log)
        .subarray(-64 * 1024)
        .toString('utf8'),
    );
    expect(await storage.tailFile(join(folder, 'no-such.log'))).toBe('');
    expect(await storage.tailFile('/var/lib/limen/not-in-a-pool/x.log')).toBe('');

    await storage.deleteVolumeByPath(log);
    expect(existsSync(log)).toBe(false);
    await storage.deleteVolumeByPath(log);
    // A file libvirt never listed goes too (the pool over its folder is refreshed).
    writeFileSync(log, 'again');
    await storage.deleteVolumeByPath(log);
    expect(existsSync(log)).toBe(false);
    await storage.deleteVolumeByPath(join(folder, 'overlay-big.qcow2'));
    await expect(storage.getVolume(ref('overlay-big.qcow2'))).rejects.toMatchObject({ code: 'VOLUME_NOT_FOUND' });
  });

  it('refuses hostile names and paths with INVALID_ARGUMENT before anything is created', async () => {
    const before = readdirSync(folder).sort();
    const poolsBefore = pools().sort();
    const local = join(scratch, 'data.bin');
    const hostile = ['../x', 'a/b', '<x>', '.hidden', '', 'x\ny', "a'b"];
    for (const name of hostile) {
      const bad = ref(name);
      const attempts: Array<Promise<unknown>> = [
        storage.createVolume({ ...bad, sizeBytes: MiB }),
        storage.createVolume({ ...ref('ok.qcow2'), backing: { ...bad, format: 'qcow2' } }),
        storage.getVolume(bad),
        storage.resizeVolume(bad, GiB),
        storage.deleteVolume(bad),
        storage.cloneVolume(ref('base.qcow2'), bad),
        storage.uploadVolume(bad, local, { format: 'raw' }),
        storage.downloadVolume(bad, join(scratch, 'never')),
        storage.createSeedIso({ ...bad, metaData: '', userData: '' }),
        storage.getVolume({ pool: `limen-${name}`, name: 'a.qcow2' }),
        storage.ensureStoragePool({ name: `limen-${name}`, type: 'dir', path: join(ROOT, `${id}-c`) }),
      ];
      for (const attempt of attempts) await expect(attempt).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    for (const path of ['relative', `${folder}/../${id}-c`, `${folder}/./x`, `${folder}//x`, `${folder}/`]) {
      await expect(storage.ensureStoragePool({ name: `limen-t${id}-c`, type: 'dir', path })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(storage.tailFile(path)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(storage.deleteVolumeByPath(path)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(storage.uploadVolume(ref('p.raw'), path, { format: 'raw' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
    await expect(
      storage.ensureStoragePool({ name: `limen-t${id}-c`, type: 'logical' as 'dir', path: join(ROOT, `${id}-c`) }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      storage.createVolume({ ...ref('fmt.vmdk'), sizeBytes: MiB, format: 'vmdk' as 'raw' }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(storage.createVolume({ ...ref('neg.qcow2'), sizeBytes: -1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(readdirSync(folder).sort()).toEqual(before);
    expect(pools().sort()).toEqual(poolsBefore);
    expect(existsSync(join(ROOT, `${id}-c`))).toBe(false);
    expect(existsSync(join(scratch, 'never'))).toBe(false);
  });

  it('ensures the same pool from two callers at once without a conflict', async () => {
    const name = `limen-t${id}-b`;
    const definition = { name, type: 'dir' as const, path: otherFolder };
    const [a, b] = await Promise.all([storage.ensureStoragePool(definition), storage.ensureStoragePool(definition)]);
    expect(a).toMatchObject({ active: true, autostart: true, path: otherFolder });
    expect(b).toMatchObject({ active: true, autostart: true, path: otherFolder });
    expect(pools().filter((pool) => pool === name)).toHaveLength(1);
  });
});
