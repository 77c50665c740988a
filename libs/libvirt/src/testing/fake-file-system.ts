import { basename, dirname } from 'node:path';
import { HypervisorError } from '../errors/hypervisor-error';
import { SeedIsoSpec, VolumeFormat, VolumeInfo, VolumeSpec } from '../models';
import { validateSeedIsoSpec } from '../volumes/seed-iso';
import { assertAbsolutePath } from '../xml/spec-validation';

/** What a fresh qcow2 file takes on disk before any data is written (qemu-img's metadata). */
const QCOW2_OVERHEAD_BYTES = 196_608;

/** A file on the fake hypervisor's file system. */
export interface FakeFile {
  format: VolumeFormat;
  /** Permission bits, as the real adapters set them (0600 for disks and seeds). */
  mode: number;
  virtualSizeBytes: number;
  /** What the file takes on disk; grows with guest writes and memory snapshots. */
  actualSizeBytes: number;
  backingPath?: string;
  dataFilePath?: string;
  /** The bytes guests wrote to the disk, from offset 0 (beyond: zeros). */
  content: Buffer;
  /** A seed ISO's volume label (`cidata`) and documents by file name (`meta-data`, `user-data`, `network-config`). */
  label?: string;
  documents?: Record<string, string>;
}

export interface FakeFolder {
  /** 0750 when given to QEMU's group, 0700 otherwise; 0755 for parents made on the way. */
  mode: number;
  /** Whether its group is QEMU's (libvirt runs QEMU as another user). */
  qemuGroup: boolean;
}

export interface FakeFileOptions {
  format?: VolumeFormat;
  sizeBytes?: number;
  mode?: number;
  backingPath?: string;
  dataFilePath?: string;
}

/**
 * The fake hypervisor's files: disks, seed ISOs, images and ISOs placed by tests, and folders,
 * with the checks and errors of QemuImg, SeedIsoWriter and ensurePrivateFolder.
 */
export class FakeFileSystem {
  private readonly files = new Map<string, FakeFile>();
  private readonly folders = new Map<string, FakeFolder>();

  /** `qemuGroup`: VM folders are 0750 with QEMU's group (libvirt), else 0700 (qemu-direct). */
  constructor(private readonly qemuGroup: boolean) {}

  file(path: string): FakeFile | undefined {
    return this.files.get(path);
  }

  folder(path: string): FakeFolder | undefined {
    return this.folders.get(path);
  }

  /** Names of the files and folders directly in `folder`. */
  list(folder: string): string[] {
    const names = [...this.files.keys(), ...this.folders.keys()]
      .filter((path) => path !== folder && dirname(path) === folder)
      .map((path) => basename(path));
    return names.sort();
  }

  /** A file that is just there, as an operator or an upload would have put it. */
  put(path: string, options: FakeFileOptions = {}): FakeFile {
    assertAbsolutePath('path', path);
    this.makeParents(path);
    const sizeBytes = options.sizeBytes ?? 1024 * 1024;
    const file: FakeFile = {
      format: options.format ?? 'raw',
      mode: options.mode ?? 0o644,
      virtualSizeBytes: sizeBytes,
      actualSizeBytes: options.format === 'qcow2' ? QCOW2_OVERHEAD_BYTES : sizeBytes,
      ...(options.backingPath ? { backingPath: options.backingPath } : {}),
      ...(options.dataFilePath ? { dataFilePath: options.dataFilePath } : {}),
      content: Buffer.alloc(0),
    };
    this.files.set(path, file);
    return file;
  }

  remove(path: string): void {
    this.files.delete(path);
  }

  /** Like a guest writing to its disk: the file grows to hold what was written. */
  write(path: string, data: Buffer, offset = 0): void {
    const file = this.require(path);
    const end = offset + data.length;
    const content = Buffer.alloc(Math.max(file.content.length, end));
    file.content.copy(content);
    data.copy(content, offset);
    file.actualSizeBytes += content.length - file.content.length;
    file.content = content;
    if (file.format === 'raw') file.virtualSizeBytes = Math.max(file.virtualSizeBytes, content.length);
  }

  /** Appends to a file, creating it (0600) if missing: how QEMU writes a serial log. */
  append(path: string, data: Buffer): void {
    if (!this.files.has(path)) this.put(path, { sizeBytes: 0, mode: 0o600 });
    this.write(path, data, this.require(path).content.length);
  }

  /** A snapshot revert: the disk holds what it held then. */
  restore(path: string, content: Buffer): void {
    const file = this.require(path);
    file.actualSizeBytes += content.length - file.content.length;
    file.content = Buffer.from(content);
  }

  /** Bytes stored in the file besides guest data (a running snapshot's RAM state); negative frees them. */
  charge(path: string, bytes: number): void {
    const file = this.files.get(path);
    if (file) file.actualSizeBytes = Math.max(0, file.actualSizeBytes + bytes);
  }

  read(path: string, offset: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    this.require(path).content.copy(out, 0, offset, offset + length);
    return out;
  }

  /** ensurePrivateFolder: missing parents 0755, the folder itself private. */
  makePrivateFolder(folder: string): void {
    this.makeParents(folder);
    this.folders.set(folder, { mode: this.qemuGroup ? 0o750 : 0o700, qemuGroup: this.qemuGroup });
  }

  removeTree(folder: string): void {
    const inside = (path: string) => path === folder || path.startsWith(`${folder}/`);
    for (const path of [...this.files.keys()].filter(inside)) this.files.delete(path);
    for (const path of [...this.folders.keys()].filter(inside)) this.folders.delete(path);
  }

  createVolume(spec: VolumeSpec): VolumeInfo {
    assertAbsolutePath('volume path', spec.path);
    if (spec.backingPath) assertAbsolutePath('backing path', spec.backingPath);
    if (!spec.backingPath && !spec.sizeBytes)
      throw new HypervisorError('INVALID_ARGUMENT', 'sizeBytes is required without a backing image');
    if (spec.sizeBytes !== undefined && (!Number.isSafeInteger(spec.sizeBytes) || spec.sizeBytes <= 0))
      throw new HypervisorError('INVALID_ARGUMENT', 'sizeBytes must be a positive integer');
    if (this.files.has(spec.path)) throw new HypervisorError('VOLUME_EXISTS', `volume ${spec.path} already exists`);
    const backing = spec.backingPath ? this.standaloneBacking(spec.backingPath, spec.backingFormat) : undefined;
    this.makePrivateFolder(dirname(spec.path));
    this.files.set(spec.path, {
      format: 'qcow2',
      mode: 0o600,
      virtualSizeBytes: spec.sizeBytes ?? backing?.virtualSizeBytes ?? 0,
      actualSizeBytes: QCOW2_OVERHEAD_BYTES,
      ...(spec.backingPath ? { backingPath: spec.backingPath } : {}),
      content: Buffer.alloc(0),
    });
    return this.info(spec.path, 'qcow2');
  }

  /** qemu-img info: with `format` the file is opened as that format only. */
  info(path: string, format?: VolumeFormat): VolumeInfo {
    assertAbsolutePath('volume path', path);
    const file = this.files.get(path);
    if (!file) throw new HypervisorError('VOLUME_NOT_FOUND', `volume ${path} does not exist`);
    if (format === 'qcow2' && file.format !== 'qcow2')
      throw new HypervisorError('OPERATION_FAILED', `qemu-img: ${path}: Image is not in qcow2 format`);
    if (format === 'raw' && file.format !== 'raw') {
      // Any file reads as raw: its bytes, with no backing file.
      return { path, format: 'raw', virtualSizeBytes: file.actualSizeBytes, actualSizeBytes: file.actualSizeBytes };
    }
    return {
      path,
      format: file.format,
      virtualSizeBytes: file.virtualSizeBytes,
      actualSizeBytes: file.actualSizeBytes,
      ...(file.backingPath ? { backingPath: file.backingPath } : {}),
      ...(file.dataFilePath ? { dataFilePath: file.dataFilePath } : {}),
    };
  }

  /** `inUse`: a running VM holds the image lock, which qemu-img meets only after these checks. */
  resize(path: string, sizeBytes: number, allowShrink: boolean, inUse: boolean): VolumeInfo {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0)
      throw new HypervisorError('INVALID_ARGUMENT', 'sizeBytes must be a positive integer');
    const current = this.info(path);
    if (sizeBytes < current.virtualSizeBytes && !allowShrink)
      throw new HypervisorError('INVALID_ARGUMENT', `shrinking ${path} loses data; pass allowShrink`);
    if (inUse) throw new HypervisorError('INVALID_STATE', `volume ${path} is in use by a running VM`);
    this.require(path).virtualSizeBytes = sizeBytes;
    return this.info(path);
  }

  delete(path: string): void {
    assertAbsolutePath('volume path', path);
    this.files.delete(path);
  }

  createSeedIso(spec: SeedIsoSpec): VolumeInfo {
    validateSeedIsoSpec(spec);
    this.makePrivateFolder(dirname(spec.path));
    const documents: Record<string, string> = { 'meta-data': spec.metaData, 'user-data': spec.userData };
    if (spec.networkConfig !== undefined) documents['network-config'] = spec.networkConfig;
    // An ISO 9660 image is a multiple of 2 KiB: 176 KiB of filesystem plus the documents.
    const bytes = Object.values(documents).reduce((sum, text) => sum + Buffer.byteLength(text), 0);
    const size = 176 * 1024 + Math.ceil(bytes / 2048) * 2048;
    this.files.set(spec.path, {
      format: 'raw',
      mode: 0o600,
      virtualSizeBytes: size,
      actualSizeBytes: size,
      content: Buffer.alloc(0),
      label: 'cidata',
      documents,
    });
    return { path: spec.path, format: 'raw', virtualSizeBytes: size, actualSizeBytes: size };
  }

  private standaloneBacking(path: string, format: VolumeFormat | undefined): VolumeInfo {
    if (!format)
      throw new HypervisorError(
        'INVALID_ARGUMENT',
        'backingFormat is required with a backing image: its format is never probed',
      );
    const backing = this.info(path, format);
    if (backing.backingPath || backing.dataFilePath)
      throw new HypervisorError(
        'INVALID_ARGUMENT',
        `backing image ${path} has a backing file or an external data file of its own`,
      );
    return backing;
  }

  private require(path: string): FakeFile {
    const file = this.files.get(path);
    if (!file) throw new HypervisorError('VOLUME_NOT_FOUND', `volume ${path} does not exist`);
    return file;
  }

  private makeParents(path: string): void {
    for (let parent = dirname(path); parent !== dirname(parent); parent = dirname(parent)) {
      if (!this.folders.has(parent)) this.folders.set(parent, { mode: 0o755, qemuGroup: false });
    }
  }
}
