import { basename, dirname } from 'node:path';
import { HypervisorError } from '../errors/hypervisor-error';
import { ImageFileInfo, VolumeFormat } from '../models';
import { assertAbsolutePath } from '../xml/spec-validation';

/** What a fresh qcow2 file takes on disk before any data is written (qemu-img's metadata). */
export const QCOW2_OVERHEAD_BYTES = 196_608;

/** A file on the fake hypervisor's file system. */
export interface FakeFile {
  format: VolumeFormat;
  /** Permission bits, as the real adapters set them (0600 for volumes). */
  mode: number;
  virtualSizeBytes: number;
  /** What the file takes on disk; grows with guest writes and memory snapshots. */
  actualSizeBytes: number;
  backingPath?: string;
  dataFilePath?: string;
  /** The bytes guests wrote to the disk, from offset 0 (beyond: zeros). */
  content: Buffer;
  /** The file's own bytes when it came from outside (an upload): what a download gives back. */
  bytes?: Buffer;
  /** A seed ISO's volume label (`cidata`) and documents by file name (`meta-data`, `user-data`, `network-config`). */
  label?: string;
  documents?: Record<string, string>;
}

export interface FakeFolder {
  mode: number;
}

export interface FakeFileOptions {
  format?: VolumeFormat;
  sizeBytes?: number;
  mode?: number;
  backingPath?: string;
  dataFilePath?: string;
}

/**
 * The fake hypervisor's files: volumes in pool folders, images and ISOs placed by tests, serial
 * logs, and folders, with the checks and errors of qemu-img. Pools are kept by FakeStorage.
 */
export class FakeFileSystem {
  private readonly files = new Map<string, FakeFile>();
  private readonly folders = new Map<string, FakeFolder>();

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

  /** Paths of the files directly in `folder`. */
  filesIn(folder: string): string[] {
    return [...this.files.keys()].filter((path) => dirname(path) === folder);
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

  /** Stores `file` at `path` as it is (a new volume). */
  set(path: string, file: FakeFile): void {
    this.makeParents(path);
    this.files.set(path, file);
  }

  remove(path: string): void {
    this.files.delete(path);
  }

  /** A folder (and its missing parents, 0755). */
  makeFolder(folder: string, mode = 0o755): void {
    this.makeParents(folder);
    if (!this.folders.has(folder)) this.folders.set(folder, { mode });
  }

  removeTree(folder: string): void {
    const inside = (path: string) => path === folder || path.startsWith(`${folder}/`);
    for (const path of [...this.files.keys()].filter(inside)) this.files.delete(path);
    for (const path of [...this.folders.keys()].filter(inside)) this.folders.delete(path);
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
    file.bytes = undefined;
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

  /** qemu-img info: with `format` the file is opened as that format only. */
  info(path: string, format?: VolumeFormat): ImageFileInfo {
    assertAbsolutePath('volume path', path);
    const file = this.require(path);
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

  require(path: string): FakeFile {
    const file = this.files.get(path);
    if (!file) throw new HypervisorError('VOLUME_NOT_FOUND', `volume ${path} does not exist`);
    return file;
  }

  private makeParents(path: string): void {
    for (let parent = dirname(path); parent !== dirname(parent); parent = dirname(parent)) {
      if (!this.folders.has(parent)) this.folders.set(parent, { mode: 0o755 });
    }
  }
}
