import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DiskSpec, StoragePoolDefinition, VolumeRef } from '../src/models';
import { diskVolumeName, seedVolumeName } from '../src/naming/storage-name';
import { VirtualizationPort } from '../src/port/virtualization-port';
import { waitFor } from './guest-fixture';

/**
 * What an adapter supports of disks on a domain (issue 15). Every case runs where its capability
 * holds. Default: everything.
 */
export interface StorageCapabilities {
  /** attachDisk, detachDisk and growDisk on a stopped domain. */
  diskChanges: boolean;
  /** Disks plugged into, grown in and unplugged from the running guest (virtio). */
  diskHotPlug: boolean;
  /** SCSI disks plugged into the running guest too. */
  scsiHotPlug: boolean;
}

/**
 * What the contract looks at beside the port: the hypervisor's file system. The real adapters
 * write real files (read with fs, qemu-io and isoinfo); the fake keeps them in memory.
 */
export interface ContractFiles {
  exists(path: string): boolean;
  /** Permission bits. */
  mode(path: string): number;
  size(path: string): number;
  /** Names in a folder. */
  list(folder: string): string[];
  /** Writes `byte` over the first 64 KiB of a qcow2 disk, as a guest would. */
  fillDisk(path: string, byte: number): void;
  /** Whether the first 64 KiB of the qcow2 disk hold `byte`. */
  diskHolds(path: string, byte: number): boolean;
  /**
   * Writes `byte` over the first `mib` MiB of a qcow2 disk: data that takes a real copy some time
   * (the fake, whose copies take none, may skip it).
   */
  writeBulk(path: string, byte: number, mib: number): void;
  /** Whether two qcow2 disks show a guest the same data (qemu-img compare; the first may be in use). */
  sameGuestData(a: string, b: string): boolean;
  seedLabel(path: string): string;
  /** A document of a seed ISO as each of its directory flavours (Joliet, Rock Ridge) shows it. */
  seedDocument(path: string, name: string): Buffer[];
  /** A CD-ROM image with some content, in `folder`. */
  makeIso(folder: string, name: string): string;
}

/** The part of the contract run the storage steps use. */
export interface StorageRun {
  readonly port: VirtualizationPort;
  readonly files: ContractFiles;
  /** A folder of the machine running the suite, for the local side of uploads and downloads. */
  readonly localDir: string;
  /** The main VM (the tiny guest; running in describeRunningDisks). */
  readonly vmId: string;
  /** This run's VM pool (defined by describeStoragePools) and a second pool of its own. */
  readonly pool: StoragePoolDefinition;
  readonly otherPool: StoragePoolDefinition;
  /** The main VM's boot disk: its id, its volume in `pool` and that volume's path. */
  readonly bootDiskId: string;
  readonly diskPath: string;
  readonly seedPath: string;
}

/** Seed documents carry user text (hostname, SSH keys, user-data); it must reach the ISO unchanged. */
export const HOSTILE_USER_DATA = [
  '#cloud-config',
  `hostname: "it's \\"quoted\\"" ; $(touch /tmp/limen-pwned) \`id\` && echo 'x'`,
  'ssh_authorized_keys: ["ssh-ed25519 AAAA== user@host -output /etc/passwd"]',
  'runcmd: [echo </xml></domain> <![CDATA[ ]]> &amp;]',
  'unicode: ✓ 한국어 émoji 🚀 \u202e',
  'crlf: a\r\nb',
  '',
].join('\n');
/** Names that must never reach a path, an XML document or a command line. */
const HOSTILE_VOLUME_NAMES = ['../escape.qcow2', 'a/b.qcow2', '.hidden', 'x y', "x'$(id)", '', 'a'.repeat(200)];
const HOSTILE_POOL_NAMES = ['default', 'limen-../x', "limen-a'b", 'LIMEN-X', 'limen-', 'limen-a b'];
const MIB = 1024 * 1024;

/** A pool pair named for one run: `limen-ct<hex>` over `<dir>/pool`, and `…b` over `<dir>/pool-b`. */
export function contractPools(dir: string): { pool: StoragePoolDefinition; otherPool: StoragePoolDefinition } {
  const suffix = randomBytes(3).toString('hex');
  return {
    pool: { name: `limen-ct${suffix}`, type: 'dir', path: join(dir, 'pool') },
    otherPool: { name: `limen-ct${suffix}b`, type: 'dir', path: join(dir, 'pool-b') },
  };
}

const volume = (run: StorageRun, name: string): VolumeRef => ({ pool: run.pool.name, name });
const dataDisk = (run: StorageRun, id: string, bus: DiskSpec['bus'] = 'virtio'): DiskSpec => ({
  id,
  path: join(run.pool.path, diskVolumeName(run.vmId, id)),
  bus,
  serial: id.slice(0, 8),
});

async function rejectsWith(work: Promise<unknown>, ...codes: string[]): Promise<void> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e as { code?: string },
  );
  expect(error).toBeDefined();
  expect(codes).toContain(error?.code);
}

export function describeStoragePools(run: () => StorageRun): void {
  it('defines a dir pool once, idempotently, and lists it with its capacity', async () => {
    const { port, pool, files } = run();
    const info = await port.ensureStoragePool(pool);
    expect(info).toMatchObject({ name: pool.name, type: 'dir', path: pool.path, active: true });
    expect(info.capacityBytes).toBeGreaterThan(0);
    expect(info.availableBytes).toBeGreaterThan(0);
    expect(info.availableBytes).toBeLessThanOrEqual(info.capacityBytes);
    expect(files.exists(pool.path)).toBe(true);
    expect(await port.ensureStoragePool(pool)).toMatchObject({ name: pool.name, path: pool.path, active: true });
    const listed = await port.listStoragePools();
    expect(listed.filter((other) => other.name === pool.name)).toEqual([
      expect.objectContaining({ name: pool.name, path: pool.path, active: true }),
    ]);
    for (const other of listed) expect(other.name).toMatch(/^limen-/);
  });

  it('refuses a known pool name with another folder, and a folder another pool uses (STORAGE_CONFLICT)', async () => {
    const { port, pool, otherPool } = run();
    await expect(port.ensureStoragePool({ ...pool, path: otherPool.path })).rejects.toMatchObject({
      code: 'STORAGE_CONFLICT',
    });
    await expect(port.ensureStoragePool({ ...otherPool, path: pool.path })).rejects.toMatchObject({
      code: 'STORAGE_CONFLICT',
    });
    expect((await port.listStoragePools()).map((listed) => listed.name)).not.toContain(otherPool.name);
    expect(await port.ensureStoragePool(otherPool)).toMatchObject({ name: otherPool.name, path: otherPool.path });
  });

  it('refuses pool names and folders that are not LIMEN ones before anything is defined', async () => {
    const { port, pool } = run();
    for (const name of HOSTILE_POOL_NAMES)
      await expect(port.ensureStoragePool({ ...pool, name })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    for (const path of ['pool', `${pool.path}/../elsewhere`, `${pool.path}\n`])
      await expect(port.ensureStoragePool({ ...pool, name: `${pool.name}c`, path })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    const names = (await port.listStoragePools()).map((listed) => listed.name);
    expect(names).not.toContain(`${pool.name}c`);
  });
}

export function describeVolumes(run: () => StorageRun): void {
  it('creates, inspects, resizes, layers and deletes volumes', async () => {
    const { port, files, pool, diskPath } = run();
    const boot = await port.createVolume({
      ...volume(run(), diskVolumeName(run().vmId, run().bootDiskId)),
      sizeBytes: 64 * MIB,
    });
    expect(boot).toMatchObject({ pool: pool.name, path: diskPath, format: 'qcow2', virtualSizeBytes: 64 * MIB });

    const base = volume(run(), 'contract-base.qcow2');
    await port.createVolume({ ...base, sizeBytes: 32 * MIB });
    await expect(port.createVolume({ ...base, sizeBytes: MIB })).rejects.toMatchObject({ code: 'VOLUME_EXISTS' });
    const overlayRef = volume(run(), 'contract-overlay.qcow2');
    const overlay = await port.createVolume({ ...overlayRef, backing: { ...base, format: 'qcow2' } });
    expect(overlay).toMatchObject({
      format: 'qcow2',
      virtualSizeBytes: 32 * MIB,
      backingPath: join(pool.path, base.name),
    });
    expect(await port.getVolume(overlayRef, 'qcow2')).toMatchObject({
      path: overlay.path,
      backingPath: overlay.backingPath,
    });
    expect((await port.resizeVolume(overlayRef, 128 * MIB)).virtualSizeBytes).toBe(128 * MIB);
    await expect(port.resizeVolume(overlayRef, 16 * MIB)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // The backing volume of an overlay may not depend on another file itself.
    await expect(
      port.createVolume({ ...volume(run(), 'contract-chain.qcow2'), backing: { ...overlayRef, format: 'qcow2' } }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(files.exists(join(pool.path, 'contract-chain.qcow2'))).toBe(false);

    await port.deleteVolume(overlayRef);
    expect(files.exists(overlay.path)).toBe(false);
    await expect(port.getVolume(overlayRef)).rejects.toMatchObject({ code: 'VOLUME_NOT_FOUND' });
    await port.deleteVolume(overlayRef); // idempotent

    const raw = await port.createVolume({ ...volume(run(), 'contract-raw.img'), sizeBytes: MIB, format: 'raw' });
    expect(raw).toMatchObject({ format: 'raw', virtualSizeBytes: MIB });
    await port.deleteVolume(raw);
    await expect(port.createVolume(volume(run(), 'contract-nosize.qcow2'))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await rejectsWith(
      port.createVolume({ pool: 'limen-no-such-pool', name: 'x.qcow2', sizeBytes: MIB }),
      'VOLUME_NOT_FOUND',
      'STORAGE_POOL_NOT_FOUND',
    );
  });

  it('clones a volume in full, within its pool', async () => {
    const { port, files } = run();
    const base = volume(run(), 'contract-base.qcow2');
    files.fillDisk(join(run().pool.path, base.name), 0xab);
    const copyRef = volume(run(), 'contract-copy.qcow2');
    const copy = await port.cloneVolume(base, copyRef);
    expect(copy).toMatchObject({ ...copyRef, format: 'qcow2', virtualSizeBytes: 32 * MIB });
    expect(copy.backingPath).toBeUndefined();
    expect(files.diskHolds(copy.path, 0xab)).toBe(true);
    await expect(port.cloneVolume(base, copyRef)).rejects.toMatchObject({ code: 'VOLUME_EXISTS' });
    await port.deleteVolume(copyRef);
  });

  it('uploads a local file as a volume and downloads it back byte for byte; a failed upload leaves nothing', async () => {
    const { port, files, localDir } = run();
    const bytes = randomBytes(MIB + 512);
    const source = join(localDir, `upload-${randomUUID()}.img`);
    writeFileSync(source, bytes);
    const ref = volume(run(), 'contract-upload.img');
    const uploaded = await port.uploadVolume(ref, source, { format: 'raw' });
    expect(uploaded).toMatchObject({ ...ref, format: 'raw', virtualSizeBytes: bytes.length });
    expect(files.mode(uploaded.path)).toBe(0o600);
    await expect(port.uploadVolume(ref, source, { format: 'raw' })).rejects.toMatchObject({ code: 'VOLUME_EXISTS' });
    const target = join(localDir, `download-${randomUUID()}.img`);
    await port.downloadVolume(ref, target);
    expect(readFileSync(target).equals(bytes)).toBe(true);
    await port.deleteVolume(ref);

    // A qcow2 image travels as its file: downloaded, and uploaded again as another volume.
    const image = join(localDir, `image-${randomUUID()}.qcow2`);
    await port.downloadVolume(volume(run(), 'contract-base.qcow2'), image);
    const copyRef = volume(run(), 'contract-uploaded.qcow2');
    expect(await port.uploadVolume(copyRef, image, { format: 'qcow2' })).toMatchObject({
      format: 'qcow2',
      virtualSizeBytes: 32 * MIB,
    });
    expect((await port.getVolume(copyRef, 'qcow2')).virtualSizeBytes).toBe(32 * MIB);
    await port.deleteVolume(copyRef);

    const missing = volume(run(), 'contract-missing.img');
    await expect(port.uploadVolume(missing, join(localDir, 'no-such-file.img'), { format: 'raw' })).rejects.toThrow();
    await expect(port.getVolume(missing)).rejects.toMatchObject({ code: 'VOLUME_NOT_FOUND' });
    await expect(port.downloadVolume(missing, join(localDir, 'never.img'))).rejects.toMatchObject({
      code: 'VOLUME_NOT_FOUND',
    });
    await port.deleteVolume(volume(run(), 'contract-base.qcow2'));
  });

  it('writes a cloud-init NoCloud seed ISO as a volume whose documents come back byte for byte', async () => {
    const { port, files, pool, vmId, seedPath } = run();
    const ref = volume(run(), seedVolumeName(vmId));
    const metaData = `instance-id: ${vmId}\nlocal-hostname: "a'b$(x)"\n`;
    const networkConfig = 'version: 2\nethernets: {}\n';
    // A second write replaces the first one (the api rewrites a VM's seed when its config changes).
    await port.createSeedIso({ ...ref, metaData: 'instance-id: old\n', userData: 'old' });
    const seed = await port.createSeedIso({ ...ref, metaData, userData: HOSTILE_USER_DATA, networkConfig });
    expect(seed).toMatchObject({ ...ref, path: seedPath, format: 'raw' });
    expect(seed.virtualSizeBytes).toBe(files.size(seedPath));
    expect(files.mode(seedPath)).toBe(0o600); // it holds the user's cloud-init, passwords included

    expect(files.seedLabel(seedPath)).toBe('cidata');
    const documents = (name: string) => files.seedDocument(seedPath, name).map((b) => b.toString('utf8'));
    expect(documents('user-data')).not.toHaveLength(0);
    for (const userData of files.seedDocument(seedPath, 'user-data'))
      expect(userData.equals(Buffer.from(HOSTILE_USER_DATA, 'utf8'))).toBe(true);
    for (const text of documents('meta-data')) expect(text).toBe(metaData);
    for (const text of documents('network-config')) expect(text).toBe(networkConfig);
    // Nothing half-written is left beside it.
    expect(files.list(pool.path).filter((name) => name.includes('seed'))).toEqual([ref.name]);
  });

  it('refuses hostile volume names in every volume call', async () => {
    const { port, files, pool, localDir } = run();
    const source = join(localDir, 'hostile-source.img');
    writeFileSync(source, Buffer.alloc(4096));
    const base = volume(run(), seedVolumeName(run().vmId));
    for (const name of HOSTILE_VOLUME_NAMES) {
      const ref = volume(run(), name);
      // Called one at a time: each must reject, not throw, and none may be left unawaited.
      const refusals: Array<() => Promise<unknown>> = [
        () => port.createVolume({ ...ref, sizeBytes: MIB }),
        () => port.getVolume(ref),
        () => port.resizeVolume(ref, 2 * MIB),
        () => port.deleteVolume(ref),
        () => port.cloneVolume(base, ref),
        () => port.uploadVolume(ref, source, { format: 'raw' }),
        () => port.downloadVolume(ref, join(localDir, 'hostile-target.img')),
        () => port.createSeedIso({ ...ref, metaData: '', userData: '' }),
        () => port.createVolume({ ...volume(run(), 'contract-hostile.qcow2'), backing: { ...ref, format: 'qcow2' } }),
      ];
      for (const refusal of refusals) await expect(refusal()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    for (const name of HOSTILE_POOL_NAMES)
      await expect(port.getVolume({ pool: name, name: 'x.qcow2' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(files.exists(join(pool.path, '..', 'escape.qcow2'))).toBe(false);
    expect(files.list(pool.path).filter((name) => name.startsWith('contract-'))).toEqual([]);
  });
}

export function describeStoppedDisks(run: () => StorageRun, caps: StorageCapabilities): void {
  (caps.diskChanges ? it : it.skip)('attaches, grows and detaches disks of a stopped domain by id', async () => {
    const { port, vmId } = run();
    const virtio = dataDisk(run(), randomUUID());
    const scsi = dataDisk(run(), randomUUID(), 'scsi');
    for (const disk of [virtio, scsi])
      await port.createVolume({ ...volume(run(), diskVolumeName(vmId, disk.id!)), sizeBytes: 16 * MIB });

    expect(await port.attachDisk(vmId, virtio)).toEqual({ config: true, live: false });
    expect(await port.attachDisk(vmId, virtio)).toEqual({ config: true, live: false }); // already there: fine
    expect(await port.attachDisk(vmId, scsi)).toEqual({ config: true, live: false });
    const disks = (await port.getDomain(vmId)).disks;
    expect(disks.find((disk) => disk.id === run().bootDiskId)).toMatchObject({ device: 'disk', path: run().diskPath });
    expect(disks.find((disk) => disk.id === virtio.id)).toMatchObject({ device: 'disk', path: virtio.path });
    const scsiTarget = disks.find((disk) => disk.id === scsi.id)?.target;
    // On the SCSI controller, beside (never over) the CD-ROM and seed drives.
    expect(scsiTarget).toMatch(/^sd[c-z]$/);
    expect(new Set(disks.map((disk) => disk.target)).size).toBe(disks.length);

    const other = dataDisk(run(), randomUUID());
    const refused = [
      { ...virtio, path: other.path }, // the id of another disk
      { ...other, path: virtio.path }, // the volume of another disk
      { ...other, serial: virtio.serial }, // the serial of another disk
      { path: other.path }, // no id
      { ...other, bootIndex: 2 }, // a disk attached later does not boot
      { ...other, id: "x'/><a b='" },
    ];
    for (const disk of refused)
      await expect(port.attachDisk(vmId, disk)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(port.attachDisk(randomUUID(), dataDisk(run(), randomUUID()))).rejects.toMatchObject({
      code: 'DOMAIN_NOT_FOUND',
    });

    expect(await port.growDisk(vmId, virtio.id!, 32 * MIB)).toEqual({ config: true, live: false });
    const grown = volume(run(), diskVolumeName(vmId, virtio.id!));
    expect((await port.getVolume(grown)).virtualSizeBytes).toBe(32 * MIB);
    await expect(port.growDisk(vmId, virtio.id!, 16 * MIB)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await port.growDisk(vmId, virtio.id!, 32 * MIB)).toEqual({ config: true, live: false }); // as it is
    await expect(port.growDisk(vmId, randomUUID(), 64 * MIB)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });

    expect((await port.detachDisk(vmId, scsi.id!)).config).toBe(true);
    await expect(port.detachDisk(vmId, scsi.id!)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await port.getDomain(vmId)).disks.map((disk) => disk.id)).not.toContain(scsi.id);
    // The volume itself stays: deleting it is the caller's next step.
    const detached = volume(run(), diskVolumeName(vmId, scsi.id!));
    expect((await port.getVolume(detached)).virtualSizeBytes).toBe(16 * MIB);
    await port.deleteVolume(detached);
  });
}

export function describeRunningDisks(run: () => StorageRun, caps: StorageCapabilities): void {
  it('refuses to resize a volume the running guest uses (growDisk is the way)', async () => {
    const { port, vmId, bootDiskId } = run();
    // Well beyond what the disk holds (its snapshots' RAM state included): only the lock refuses it.
    await expect(port.resizeVolume(volume(run(), diskVolumeName(vmId, bootDiskId)), 1024 * MIB)).rejects.toMatchObject({
      code: 'INVALID_STATE',
    });
  });

  (caps.diskChanges && caps.diskHotPlug ? it : it.skip)(
    'grows a disk of the running guest live, and plugs disks in and out of it',
    async () => {
      const { port, vmId } = run();
      const attached = (await port.getDomain(vmId)).disks.filter((disk) => disk.device === 'disk' && disk.id);
      const data = attached.find((disk) => disk.id !== run().bootDiskId);
      expect(data?.id).toBeDefined();
      expect(await port.growDisk(vmId, data!.id!, 48 * MIB)).toEqual({ config: true, live: true });
      expect((await port.getVolume(volume(run(), diskVolumeName(vmId, data!.id!)))).virtualSizeBytes).toBe(48 * MIB);

      const plugged = [
        dataDisk(run(), randomUUID()),
        ...(caps.scsiHotPlug ? [dataDisk(run(), randomUUID(), 'scsi')] : []),
      ];
      for (const disk of plugged) {
        await port.createVolume({ ...volume(run(), diskVolumeName(vmId, disk.id!)), sizeBytes: 8 * MIB });
        expect(await port.attachDisk(vmId, disk)).toEqual({ config: true, live: true });
      }
      const ids = async () => (await port.getDomain(vmId)).disks.map((disk) => disk.id);
      expect(await ids()).toEqual(expect.arrayContaining(plugged.map((disk) => disk.id)));
      for (const disk of plugged) {
        expect(await port.detachDisk(vmId, disk.id!)).toEqual({ config: true, live: true });
        // The guest lets go of the device in its own time.
        await waitFor(`disk ${disk.id} unplugged`, async () => !(await ids()).includes(disk.id), 30_000, 250);
        await port.deleteVolume(volume(run(), diskVolumeName(vmId, disk.id!)));
      }
    },
    120_000,
  );
}
