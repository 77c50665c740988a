import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { HypervisorError } from '../errors/hypervisor-error';
import {
  PoolVolumeInfo,
  PoolVolumeSpec,
  SeedIsoVolumeSpec,
  StoragePoolDefinition,
  StoragePoolInfo,
  VolumeFormat,
  VolumeRef,
} from '../models';
import { assertPoolName, assertVolumeName } from '../naming/storage-name';
import { FakeFile, FakeFileSystem, QCOW2_OVERHEAD_BYTES } from './fake-file-system';
import { qcow2Bytes, qcow2Content, qcow2Header } from './fake-qcow2';

function invalid(message: string): HypervisorError {
  return new HypervisorError('INVALID_ARGUMENT', message);
}

function assertSize(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw invalid('sizeBytes must be a positive integer');
}

/**
 * The fake host's storage pools: `dir` pools over folders of FakeFileSystem, all on one filesystem
 * of `capacityBytes` (what every pool reports as capacity; allocation and available bytes count
 * every volume of every pool), with the names, refusals and error codes of the real adapters.
 * Uploads and downloads read and write real local files, as vol-upload and vol-download do.
 */
export class FakeStorage {
  private readonly pools = new Map<string, StoragePoolDefinition>();

  constructor(
    private readonly files: FakeFileSystem,
    /** The filesystem's size; tests lower it to run out of space. */
    public capacityBytes: number,
  ) {}

  ensurePool(definition: StoragePoolDefinition): StoragePoolInfo {
    assertPoolName(definition.name);
    if (definition.type !== 'dir') throw invalid(`storage pool type ${JSON.stringify(definition.type)} is not dir`);
    const path = definition.path;
    if (
      typeof path !== 'string' ||
      !isAbsolute(path) ||
      normalize(path) !== path ||
      path === '/' ||
      /[\0\n]/.test(path)
    )
      throw invalid('a storage pool path must be a normalized absolute folder below /');
    const existing = this.pools.get(definition.name);
    if (existing && existing.path !== path)
      throw new HypervisorError(
        'STORAGE_CONFLICT',
        `storage pool ${definition.name} already exists with path ${existing.path}`,
      );
    const sharing = [...this.pools.values()].find((pool) => pool.path === path && pool.name !== definition.name);
    if (sharing) throw new HypervisorError('STORAGE_CONFLICT', `storage pool ${sharing.name} already uses ${path}`);
    this.files.makeFolder(path);
    this.pools.set(definition.name, { name: definition.name, type: 'dir', path });
    return this.poolInfo(definition.name);
  }

  listPools(): StoragePoolInfo[] {
    return [...this.pools.keys()].sort().map((name) => this.poolInfo(name));
  }

  /** The path of a volume of an existing pool (the volume itself may be missing). */
  pathOf(ref: VolumeRef): string {
    assertPoolName(ref.pool);
    assertVolumeName(ref.name);
    const pool = this.pools.get(ref.pool);
    if (!pool) throw new HypervisorError('VOLUME_NOT_FOUND', `storage pool ${ref.pool} does not exist`);
    return join(pool.path, ref.name);
  }

  /** The pool and name of a path, when it is a volume of a pool. */
  refOf(path: string): VolumeRef | undefined {
    const pool = [...this.pools.values()].find((candidate) => candidate.path === dirname(path));
    return pool ? { pool: pool.name, name: path.slice(pool.path.length + 1) } : undefined;
  }

  create(spec: PoolVolumeSpec): PoolVolumeInfo {
    const path = this.pathOf(spec);
    const format = spec.format ?? 'qcow2';
    if (format !== 'qcow2' && format !== 'raw') throw invalid(`volume format ${JSON.stringify(format)}`);
    if (spec.sizeBytes !== undefined) assertSize(spec.sizeBytes);
    if (!spec.backing && spec.sizeBytes === undefined) throw invalid('sizeBytes is required without a backing volume');
    if (spec.backing && format !== 'qcow2') throw invalid('a copy-on-write overlay is a qcow2 volume');
    if (this.files.file(path))
      throw new HypervisorError('VOLUME_EXISTS', `volume ${spec.pool}/${spec.name} already exists`);
    const backing = spec.backing ? this.standaloneBacking(spec.backing) : undefined;
    const actualSizeBytes = format === 'qcow2' ? QCOW2_OVERHEAD_BYTES : 0;
    this.assertRoom(actualSizeBytes, path);
    this.files.set(path, {
      format,
      mode: 0o600,
      virtualSizeBytes: spec.sizeBytes ?? backing!.virtualSizeBytes,
      actualSizeBytes,
      ...(backing ? { backingPath: backing.path } : {}),
      content: Buffer.alloc(0),
    });
    return this.info(spec);
  }

  info(ref: VolumeRef, format?: VolumeFormat): PoolVolumeInfo {
    const path = this.pathOf(ref);
    const { dataFilePath: _dataFile, ...info } = this.files.info(path, format);
    return { pool: ref.pool, name: ref.name, ...info };
  }

  /** `inUse`: a running domain holds the volume (qemu-img meets its lock after these checks). */
  resize(ref: VolumeRef, sizeBytes: number, allowShrink: boolean, inUse: boolean): PoolVolumeInfo {
    assertSize(sizeBytes);
    const current = this.info(ref);
    if (sizeBytes < current.virtualSizeBytes && !allowShrink)
      throw invalid(`shrinking ${ref.pool}/${ref.name} loses data; pass allowShrink`);
    if (inUse) throw new HypervisorError('INVALID_STATE', `volume ${ref.pool}/${ref.name} is in use by a running VM`);
    this.files.require(current.path).virtualSizeBytes = sizeBytes;
    return this.info(ref);
  }

  delete(ref: VolumeRef): void {
    assertPoolName(ref.pool);
    assertVolumeName(ref.name);
    const pool = this.pools.get(ref.pool);
    if (pool) this.files.remove(join(pool.path, ref.name));
  }

  /** A full copy: the target stands alone with the source's guest data and size. */
  clone(source: VolumeRef, target: VolumeRef): PoolVolumeInfo {
    const from = this.files.require(this.pathOf(source));
    const path = this.pathOf(target);
    if (target.pool !== source.pool) throw invalid('a volume is cloned within its own pool');
    if (this.files.file(path))
      throw new HypervisorError('VOLUME_EXISTS', `volume ${target.pool}/${target.name} already exists`);
    const actualSizeBytes = (from.format === 'qcow2' ? QCOW2_OVERHEAD_BYTES : 0) + from.content.length;
    this.assertRoom(actualSizeBytes, path);
    this.files.set(path, {
      format: from.format,
      mode: 0o600,
      virtualSizeBytes: from.virtualSizeBytes,
      actualSizeBytes,
      content: Buffer.from(from.content),
      ...(from.bytes ? { bytes: Buffer.from(from.bytes) } : {}),
    });
    return this.info(target);
  }

  async upload(ref: VolumeRef, localPath: string, format: VolumeFormat): Promise<PoolVolumeInfo> {
    const path = this.pathOf(ref);
    if (format !== 'qcow2' && format !== 'raw') throw invalid(`volume format ${JSON.stringify(format)}`);
    if (this.files.file(path))
      throw new HypervisorError('VOLUME_EXISTS', `volume ${ref.pool}/${ref.name} already exists`);
    const bytes = await this.readLocal(localPath);
    const header = format === 'qcow2' ? qcow2Header(bytes) : undefined;
    if (format === 'qcow2' && !header)
      throw new HypervisorError('OPERATION_FAILED', `${localPath}: Image is not in qcow2 format`);
    this.assertRoom(bytes.length, path);
    this.files.set(path, {
      format,
      mode: 0o600,
      virtualSizeBytes: header?.virtualSizeBytes ?? bytes.length,
      actualSizeBytes: bytes.length,
      ...(header?.backingPath ? { backingPath: header.backingPath } : {}),
      content: format === 'raw' ? Buffer.from(bytes) : qcow2Content(bytes),
      bytes,
    });
    return this.info(ref);
  }

  async download(ref: VolumeRef, localPath: string): Promise<void> {
    const file = this.files.require(this.pathOf(ref));
    try {
      await writeFile(localPath, this.bytesOf(file));
    } catch (error) {
      await rm(localPath, { force: true });
      throw new HypervisorError('OPERATION_FAILED', `cannot write ${localPath}`, (error as Error).message);
    }
  }

  seed(spec: SeedIsoVolumeSpec): PoolVolumeInfo {
    const path = this.pathOf(spec);
    for (const field of ['metaData', 'userData'] as const)
      if (typeof spec[field] !== 'string') throw invalid(`${field} must be a string`);
    if (spec.networkConfig !== undefined && typeof spec.networkConfig !== 'string')
      throw invalid('networkConfig must be a string');
    const documents: Record<string, string> = { 'meta-data': spec.metaData, 'user-data': spec.userData };
    if (spec.networkConfig !== undefined) documents['network-config'] = spec.networkConfig;
    // An ISO 9660 image is a multiple of 2 KiB: 176 KiB of filesystem plus the documents.
    const text = Object.values(documents).reduce((sum, value) => sum + Buffer.byteLength(value), 0);
    const size = 176 * 1024 + Math.ceil(text / 2048) * 2048;
    this.assertRoom(size - (this.files.file(path)?.actualSizeBytes ?? 0), path);
    this.files.set(path, {
      format: 'raw',
      mode: 0o600,
      virtualSizeBytes: size,
      actualSizeBytes: size,
      content: Buffer.alloc(0),
      label: 'cidata',
      documents,
    });
    return this.info(spec);
  }

  /** Bytes every pool's volumes take on the shared filesystem. */
  usedBytes(): number {
    let used = 0;
    for (const pool of new Set([...this.pools.values()].map((p) => p.path)))
      for (const path of this.files.filesIn(pool)) used += this.files.file(path)!.actualSizeBytes;
    return used;
  }

  private poolInfo(name: string): StoragePoolInfo {
    const pool = this.pools.get(name)!;
    const used = this.usedBytes();
    return {
      name,
      type: 'dir',
      path: pool.path,
      active: true,
      autostart: true,
      capacityBytes: this.capacityBytes,
      allocationBytes: used,
      availableBytes: Math.max(0, this.capacityBytes - used),
    };
  }

  private assertRoom(bytes: number, path: string): void {
    if (bytes > this.capacityBytes - this.usedBytes())
      throw new HypervisorError('INSUFFICIENT_STORAGE', `cannot write ${path}: No space left on device`);
  }

  private standaloneBacking(backing: VolumeRef & { format: VolumeFormat }): PoolVolumeInfo {
    if (backing.format !== 'qcow2' && backing.format !== 'raw')
      throw invalid('backing.format is required: a backing volume is never probed');
    const info = this.info(backing, backing.format);
    const file = this.files.require(info.path);
    if (info.backingPath || file.dataFilePath)
      throw invalid(
        `backing volume ${backing.pool}/${backing.name} has a backing file or an external data file of its own`,
      );
    return info;
  }

  private bytesOf(file: FakeFile): Buffer {
    if (file.bytes) return file.bytes;
    if (file.format === 'qcow2') return qcow2Bytes(file.virtualSizeBytes);
    const bytes = Buffer.alloc(Math.max(file.virtualSizeBytes, file.content.length));
    file.content.copy(bytes);
    return bytes;
  }

  private async readLocal(localPath: string): Promise<Buffer> {
    if (typeof localPath !== 'string' || !isAbsolute(localPath)) throw invalid('localPath must be an absolute path');
    try {
      return await readFile(localPath);
    } catch (error) {
      throw new HypervisorError('OPERATION_FAILED', `cannot read ${localPath}`, (error as Error).message);
    }
  }
}
