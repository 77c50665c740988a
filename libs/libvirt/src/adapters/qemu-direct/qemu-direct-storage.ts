import { chmod, constants, copyFile, mkdir, open, readFile, rename, rm, stat, statfs } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { HypervisorError, isFilesystemFull } from '../../errors/hypervisor-error';
import { withScratchDir } from '../../host/scratch-dir';
import {
  ImageFileInfo,
  PoolVolumeInfo,
  PoolVolumeSpec,
  SeedIsoVolumeSpec,
  StoragePoolDefinition,
  StoragePoolInfo,
  VolumeFormat,
  VolumeRef,
} from '../../models';
import { assertPoolName, assertVolumeName } from '../../naming/storage-name';
import { partialPathFor, QemuImg, syncFile } from '../../volumes/qemu-img';
import { SeedIsoWriter } from '../../volumes/seed-iso';
import { assertAbsolutePath } from '../../xml/spec-validation';

/** A pool as qemu-direct records it: a name for a folder. */
interface PoolRecord {
  name: string;
  path: string;
}

export interface QemuDirectStorageOptions {
  /** The adapter's state folder; the pools are recorded in `storage-pools.json` there. */
  stateDir: string;
  qemuImg?: QemuImg;
  seedIsoWriter?: SeedIsoWriter;
}

function invalid(message: string): never {
  throw new HypervisorError('INVALID_ARGUMENT', message);
}

function conflict(message: string): never {
  throw new HypervisorError('STORAGE_CONFLICT', message);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The storage methods of VirtualizationPort for qemu-direct, on the api's own machine: a pool is a
 * folder recorded under a name in the state folder, a volume a file `<pool folder>/<name>` (images
 * through qemu-img). Uploads and downloads are file copies; every new file is written under a
 * hidden temporary name and renamed into place, so no reader ever sees half of one.
 */
export class QemuDirectStorage {
  private readonly qemuImg: QemuImg;
  private readonly seedIsoWriter: SeedIsoWriter;
  /** Pool records change one at a time (read, change, write back). */
  private recordsChange: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: QemuDirectStorageOptions) {
    this.qemuImg = options.qemuImg ?? new QemuImg();
    this.seedIsoWriter = options.seedIsoWriter ?? new SeedIsoWriter();
  }

  private get recordsFile(): string {
    return join(this.options.stateDir, 'storage-pools.json');
  }

  /**
   * Records the pool and creates its folder (0711, parents 0755) when missing; an existing folder
   * keeps its mode. STORAGE_CONFLICT when the name is recorded for another folder, or the folder under another name.
   */
  async ensureStoragePool(definition: StoragePoolDefinition): Promise<StoragePoolInfo> {
    assertPoolName(definition.name);
    if (definition.type !== 'dir') invalid('only dir pools can be created');
    assertAbsolutePath('pool path', definition.path);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(definition.path)) invalid('pool path must not contain control characters');
    if (normalize(definition.path) !== definition.path || definition.path === '/')
      invalid('pool path must be a normalized absolute path below /');
    return this.changeRecords(async (records) => {
      const byName = records.find((record) => record.name === definition.name);
      if (byName && byName.path !== definition.path)
        conflict(`storage pool ${definition.name} already uses ${byName.path}`);
      const byPath = records.find((record) => record.path === definition.path && record.name !== definition.name);
      if (byPath) conflict(`${definition.path} already is storage pool ${byPath.name}`);
      if (!(await exists(definition.path))) {
        await mkdir(dirname(definition.path), { recursive: true, mode: 0o755 });
        await mkdir(definition.path, { mode: 0o711 });
        // Explicitly: the umask must not decide.
        await chmod(definition.path, 0o711);
      }
      const updated = byName ? records : [...records, { name: definition.name, path: definition.path }];
      return { records: updated, result: await this.poolInfo({ name: definition.name, path: definition.path }) };
    });
  }

  async listStoragePools(): Promise<StoragePoolInfo[]> {
    const records = await this.readRecords();
    return Promise.all(records.map((record) => this.poolInfo(record)));
  }

  /** An empty volume (qcow2 unless `format` says raw), or a qcow2 overlay over `backing` (any recorded pool). */
  async createVolume(spec: PoolVolumeSpec): Promise<PoolVolumeInfo> {
    const path = await this.volumePath(spec);
    const backingPath = spec.backing ? await this.volumePath(spec.backing) : undefined;
    const info = await this.qemuImg.createFile({
      path,
      format: spec.format ?? 'qcow2',
      ...(spec.sizeBytes !== undefined ? { sizeBytes: spec.sizeBytes } : {}),
      ...(backingPath && spec.backing ? { backingPath, backingFormat: spec.backing.format } : {}),
    });
    return this.asPoolVolume(spec, info);
  }

  async getVolume(ref: VolumeRef, format?: VolumeFormat): Promise<PoolVolumeInfo> {
    return this.asPoolVolume(ref, await this.qemuImg.info(await this.volumePath(ref), format));
  }

  /** Grows (shrinks only with allowShrink) a volume; INVALID_STATE while a running QEMU holds it. */
  async resizeVolume(
    ref: VolumeRef,
    sizeBytes: number,
    options: { allowShrink?: boolean } = {},
  ): Promise<PoolVolumeInfo> {
    const path = await this.volumePath(ref);
    return this.asPoolVolume(ref, await this.qemuImg.resize(path, sizeBytes, options.allowShrink));
  }

  /** Idempotent, an unknown pool included. */
  async deleteVolume(ref: VolumeRef): Promise<void> {
    assertPoolName(ref.pool);
    assertVolumeName(ref.name);
    const record = (await this.readRecords()).find((candidate) => candidate.name === ref.pool);
    if (record) await rm(join(record.path, ref.name), { force: true });
  }

  /** A full, standalone qcow2 copy (`qemu-img convert`: an overlay's backing data is copied in). */
  async cloneVolume(source: VolumeRef, target: VolumeRef): Promise<PoolVolumeInfo> {
    const from = await this.getVolume(source);
    const path = await this.volumePath(target);
    await this.assertAbsent(path);
    await this.writeInPlace(path, (partial) => this.qemuImg.convert(from.path, from.format, partial, 'qcow2'));
    return this.getVolume(target, 'qcow2');
  }

  /**
   * A new volume holding the bytes of the local file `localPath`, read back as `format` (a file
   * that is no such image is refused, INVALID_ARGUMENT, and nothing is left).
   */
  async uploadVolume(ref: VolumeRef, localPath: string, options: { format: VolumeFormat }): Promise<PoolVolumeInfo> {
    assertAbsolutePath('local path', localPath);
    if (options.format !== 'qcow2' && options.format !== 'raw') invalid('format must be qcow2 or raw');
    const path = await this.volumePath(ref);
    await this.assertAbsent(path);
    await this.writeInPlace(path, async (partial) => {
      await this.copy(localPath, partial);
      try {
        await this.qemuImg.info(partial, options.format);
      } catch (error) {
        if (!HypervisorError.is(error, 'OPERATION_FAILED')) throw error;
        invalid(`${localPath} is not a ${options.format} image`);
      }
    });
    return this.getVolume(ref, options.format);
  }

  /** The volume's bytes into the local file `localPath` (replaced whole, never seen half-written). */
  async downloadVolume(ref: VolumeRef, localPath: string): Promise<void> {
    assertAbsolutePath('local path', localPath);
    const path = await this.volumePath(ref);
    if (!(await exists(path)))
      throw new HypervisorError('VOLUME_NOT_FOUND', `volume ${ref.pool}/${ref.name} does not exist`);
    await this.writeInPlace(localPath, (partial) => this.copy(path, partial), true);
  }

  /** Written in a scratch folder, then copied into the pool, replacing the previous seed. */
  async createSeedIso(spec: SeedIsoVolumeSpec): Promise<PoolVolumeInfo> {
    const path = await this.volumePath(spec);
    const { pool, name, ...documents } = spec;
    await withScratchDir(async (scratch) => {
      const local = join(scratch, 'seed.iso');
      await this.seedIsoWriter.create({ ...documents, path: local });
      await this.writeInPlace(path, (partial) => this.copy(local, partial), true);
    });
    return this.getVolume({ pool, name }, 'raw');
  }

  private async poolInfo(record: PoolRecord): Promise<StoragePoolInfo> {
    const base = { name: record.name, type: 'dir', path: record.path, autostart: true };
    try {
      const fs = await statfs(record.path);
      // As libvirt reports a dir pool: the filesystem's size, use and room left for unprivileged writers.
      return {
        ...base,
        active: true,
        capacityBytes: fs.blocks * fs.bsize,
        allocationBytes: (fs.blocks - fs.bfree) * fs.bsize,
        availableBytes: fs.bavail * fs.bsize,
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      return { ...base, active: false, capacityBytes: 0, allocationBytes: 0, availableBytes: 0 };
    }
  }

  /** Whether `path` is a file directly in the folder of a recorded pool (a volume LIMEN made). */
  async isPoolFile(path: string): Promise<boolean> {
    return (await this.readRecords()).some((record) => record.path === dirname(path));
  }

  /** The file of a volume (which may not exist); VOLUME_NOT_FOUND for a pool that is not recorded. */
  async volumePath(ref: VolumeRef): Promise<string> {
    assertPoolName(ref.pool);
    assertVolumeName(ref.name);
    const record = (await this.readRecords()).find((candidate) => candidate.name === ref.pool);
    if (!record) throw new HypervisorError('VOLUME_NOT_FOUND', `storage pool ${ref.pool} does not exist`);
    return join(record.path, ref.name);
  }

  private asPoolVolume(ref: VolumeRef, info: ImageFileInfo): PoolVolumeInfo {
    return {
      pool: ref.pool,
      name: ref.name,
      path: info.path,
      format: info.format,
      virtualSizeBytes: info.virtualSizeBytes,
      actualSizeBytes: info.actualSizeBytes,
      ...(info.backingPath ? { backingPath: info.backingPath } : {}),
    };
  }

  private async assertAbsent(path: string): Promise<void> {
    if (await exists(path)) throw new HypervisorError('VOLUME_EXISTS', `volume ${path} already exists`);
  }

  /** A reflink where the filesystem can, a plain copy otherwise. */
  private async copy(from: string, to: string): Promise<void> {
    await copyFile(from, to, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  }

  /**
   * Has `write` fill a temporary file beside `path` (0600), then renames it to `path`: over an
   * existing file only with `replace`. On failure nothing is left.
   */
  private async writeInPlace(path: string, write: (partial: string) => Promise<void>, replace = false): Promise<void> {
    const partial = partialPathFor(path);
    try {
      await write(partial);
      await chmod(partial, 0o600);
      await syncFile(partial);
      if (!replace) await this.assertAbsent(path);
      await rename(partial, path);
    } catch (error) {
      await rm(partial, { force: true });
      if (error instanceof HypervisorError) throw error;
      // A local file (or folder) that is not there: the caller's mistake.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') invalid((error as Error).message);
      throw new HypervisorError(
        isFilesystemFull(error) ? 'INSUFFICIENT_STORAGE' : 'OPERATION_FAILED',
        `cannot write ${path}: ${(error as Error).message}`,
      );
    }
  }

  private async readRecords(): Promise<PoolRecord[]> {
    try {
      return JSON.parse(await readFile(this.recordsFile, 'utf8')) as PoolRecord[];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  private changeRecords<T>(
    change: (records: PoolRecord[]) => Promise<{ records: PoolRecord[]; result: T }>,
  ): Promise<T> {
    const next = this.recordsChange.then(async () => {
      const { records, result } = await change(await this.readRecords());
      await mkdir(this.options.stateDir, { recursive: true, mode: 0o700 });
      await this.writeInPlace(
        this.recordsFile,
        async (partial) => {
          const handle = await open(partial, 'wx', 0o600);
          try {
            await handle.writeFile(JSON.stringify(records, null, 2));
          } finally {
            await handle.close();
          }
        },
        true,
      );
      return result;
    });
    this.recordsChange = next.catch(() => undefined);
    return next;
  }
}
