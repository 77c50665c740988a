import { HttpStatus, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { createReadStream, ReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AppException, ErrorCode } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { BackupDiskManifest, BackupManifest } from './backup.entity';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DISK_FILE = /^disk-\d{1,2}\.qcow2$/;
const MANIFEST_FILE = 'manifest.json';

/** A byte range of a file, both ends included (as HTTP's Range has them). */
export interface ByteRange {
  start: number;
  end: number;
}

function corrupt(detail: string): AppException {
  return new AppException(HttpStatus.CONFLICT, ErrorCode.BACKUP_CORRUPT, detail);
}

/** Flushes a file's or folder's contents to disk. */
async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * The backup store: a folder (BACKUP_DIR, local or mounted) holding one folder per backup,
 * `<id>/manifest.json` and `<id>/disk-<position>.qcow2`. A backup is written in
 * `.partial-<id>/`, flushed to disk and renamed when complete, so a crash never leaves a half
 * backup under its own name. Paths are made from backup ids and manifest file names only, each
 * checked here, never from anything a request said.
 */
@Injectable()
export class BackupStore {
  private readonly root: string;

  constructor(config: AppConfig) {
    this.root = config.copies.backupDir;
  }

  static diskFile(position: number): string {
    return `disk-${position}.qcow2`;
  }

  /** An empty `.partial-<id>/` (whatever an earlier attempt left there goes); resolves to its path. */
  async startPartial(id: string): Promise<string> {
    const partial = this.partialDir(id);
    await rm(partial, { recursive: true, force: true });
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await mkdir(partial, { mode: 0o700 });
    return partial;
  }

  /** Where a file of the backup being written goes. */
  partialFile(id: string, file: string): string {
    return join(this.partialDir(id), checkedFile(file));
  }

  /** The SHA-256 of a file, read as a stream. */
  async sha256(path: string): Promise<string> {
    const hash = createHash('sha256');
    await pipeline(createReadStream(path), hash);
    return hash.digest('hex');
  }

  /**
   * Writes the manifest beside the disk files, flushes them all and the folder, then renames the
   * folder to the backup's own name (flushing the store's folder too, so the rename is durable).
   */
  async commit(id: string, manifest: BackupManifest): Promise<void> {
    const partial = this.partialDir(id);
    await writeFile(join(partial, MANIFEST_FILE), JSON.stringify(manifest, null, 2), { mode: 0o600 });
    for (const file of [...manifest.disks.map((disk) => disk.file), MANIFEST_FILE])
      await fsyncPath(join(partial, checkedFile(file)));
    await fsyncPath(partial);
    await rm(this.finalDir(id), { recursive: true, force: true });
    await rename(partial, this.finalDir(id));
    await fsyncPath(this.root);
  }

  /** The size of a complete backup's file, or null when it is missing. */
  async sizeOf(id: string, file: string): Promise<number | null> {
    try {
      return (await stat(this.filePath(id, file))).size;
    } catch {
      return null;
    }
  }

  /** 409 BACKUP_CORRUPT unless every disk file is there with the manifest's size (cheap: no reading). */
  async checkSizes(id: string, manifest: BackupManifest): Promise<void> {
    for (const disk of manifest.disks) {
      const size = await this.sizeOf(id, disk.file);
      if (size !== disk.sizeBytes)
        throw corrupt(
          size === null
            ? `The backup's file ${disk.file} is missing`
            : `The backup's file ${disk.file} has ${size} bytes, its manifest says ${disk.sizeBytes}`,
        );
    }
  }

  /** BACKUP_CORRUPT unless every disk file has the manifest's size and SHA-256: checked before any restore changes anything. */
  async verify(id: string, manifest: BackupManifest): Promise<void> {
    await this.checkSizes(id, manifest);
    for (const disk of manifest.disks)
      if ((await this.sha256(this.filePath(id, disk.file))) !== disk.sha256)
        throw corrupt(`The backup's file ${disk.file} does not match its checksum`);
  }

  /** A complete backup's file. */
  filePath(id: string, file: string): string {
    return join(this.finalDir(id), checkedFile(file));
  }

  /** Reads a disk file, or the bytes of `range` of it. */
  read(id: string, disk: BackupDiskManifest, range?: ByteRange): ReadStream {
    return createReadStream(this.filePath(id, disk.file), range ? { start: range.start, end: range.end } : {});
  }

  /** The ids of the backups that have a folder in the store, complete or partial. */
  async folderIds(): Promise<string[]> {
    const names = await readdir(this.root).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });
    const ids = names.map((name) => name.replace(/^\.partial-/, '')).filter((id) => UUID.test(id));
    return [...new Set(ids)];
  }

  /** The backup's folder and any partial one; nothing there is fine. */
  async remove(id: string): Promise<void> {
    await rm(this.finalDir(id), { recursive: true, force: true });
    await this.removePartial(id);
  }

  async removePartial(id: string): Promise<void> {
    await rm(this.partialDir(id), { recursive: true, force: true });
  }

  private finalDir(id: string): string {
    return join(this.root, checkedId(id));
  }

  private partialDir(id: string): string {
    return join(this.root, `.partial-${checkedId(id)}`);
  }
}

function checkedId(id: string): string {
  if (!UUID.test(id)) throw new Error(`not a backup id: ${JSON.stringify(id)}`);
  return id;
}

function checkedFile(file: string): string {
  if (!DISK_FILE.test(file) && file !== MANIFEST_FILE) throw new Error(`not a backup file: ${JSON.stringify(file)}`);
  return file;
}
