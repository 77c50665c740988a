import { randomBytes } from 'node:crypto';
import { chmod, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, normalize } from 'node:path';
import { HypervisorError, isFilesystemFull } from '../errors/hypervisor-error';
import { ImageFileInfo, VolumeExportInfo, VolumeFormat } from '../models';
import { assertSnapshotName } from '../naming/domain-name';
import { runProcess } from '../transport/process-runner';
import { assertAbsolutePath } from '../xml/spec-validation';

interface QemuImgInfo {
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'format-specific'?: { type: string; data?: { 'data-file'?: string } };
}

/** An image file to create (qemu-direct's volumes are files in the folders its pools are). */
export interface VolumeSpec {
  /** Absolute path of the qcow2 file to create. */
  path: string;
  /** Virtual size. Required without a backing image; with one, defaults to the backing size. */
  sizeBytes?: number;
  /** Copy-on-write over this image; it is never written to. */
  backingPath?: string;
  /**
   * Required with backingPath: the backing image is read as this format, never probed from its
   * content (a raw image whose bytes look like a qcow2 header could otherwise name other files).
   */
  backingFormat?: VolumeFormat;
}

export interface ImageExportOptions {
  /** Compressed clusters (`-c`). */
  compress: boolean;
  /** Read the state of this internal snapshot (`-l snapshot.name=…`) instead of the current one. */
  snapshot?: string;
}

/** qemu-img's words for an image a running QEMU holds (it takes the image's lock before reading). */
const IMAGE_LOCKED = /Failed to get ".*" lock|Is another process using the image/i;
const SNAPSHOT_MISSING = /Can't find snapshot|Failed to load snapshot/i;

/** Disk images through qemu-img (argv, no shell). Shared by both adapters. */
export class QemuImg {
  constructor(private readonly binary = 'qemu-img') {}

  /**
   * A new image file (owner-only, 0600) in a folder that exists and is left as it is (a storage
   * pool's): empty qcow2 or raw of `sizeBytes`, or a qcow2 overlay over a standalone backing image.
   * `prepare` runs once the spec passed every check, before anything is written.
   */
  async createFile(spec: VolumeSpec & { format: VolumeFormat }, prepare?: () => Promise<void>): Promise<ImageFileInfo> {
    assertAbsolutePath('volume path', spec.path);
    if (spec.backingPath) assertAbsolutePath('backing path', spec.backingPath);
    if (!spec.backingPath && !spec.sizeBytes)
      throw new HypervisorError('INVALID_ARGUMENT', 'sizeBytes is required without a backing image');
    if (spec.sizeBytes !== undefined && (!Number.isSafeInteger(spec.sizeBytes) || spec.sizeBytes <= 0)) {
      throw new HypervisorError('INVALID_ARGUMENT', 'sizeBytes must be a positive integer');
    }
    if (spec.format !== 'qcow2' && spec.format !== 'raw')
      throw new HypervisorError('INVALID_ARGUMENT', 'format must be qcow2 or raw');
    if (spec.backingPath && spec.format !== 'qcow2')
      throw new HypervisorError('INVALID_ARGUMENT', 'only a qcow2 volume can have a backing image');
    if (await exists(spec.path)) throw new HypervisorError('VOLUME_EXISTS', `volume ${spec.path} already exists`);
    if (spec.backingPath) await this.assertStandalone(spec.backingPath, spec.backingFormat);
    await prepare?.();

    const args = ['create', '-q', '-f', spec.format];
    // -F pins the backing format in the overlay, so QEMU never probes it either.
    if (spec.backingPath && spec.backingFormat) args.push('-b', spec.backingPath, '-F', spec.backingFormat);
    args.push(spec.path);
    if (spec.sizeBytes) args.push(String(spec.sizeBytes));
    await runProcess(this.binary, args);
    await chmod(spec.path, 0o600);
    return this.info(spec.path, spec.format);
  }

  /**
   * The file's metadata. With `format`, qemu-img opens it as that format only (and fails on a
   * file that is not one); without it qemu-img probes the content, which is safe only for files
   * LIMEN wrote itself.
   */
  async info(path: string, format?: VolumeFormat): Promise<ImageFileInfo> {
    assertAbsolutePath('volume path', path);
    if (!(await exists(path))) throw new HypervisorError('VOLUME_NOT_FOUND', `volume ${path} does not exist`);
    // -U (force share): reading metadata must work while a running VM holds the image lock.
    const { stdout } = await runProcess(this.binary, [
      'info',
      '-U',
      '--output=json',
      ...(format ? ['-f', format] : []),
      path,
    ]);
    const info = JSON.parse(stdout) as QemuImgInfo;
    const backingPath = info['full-backing-filename'] ?? info['backing-filename'];
    const dataFilePath =
      info['format-specific']?.type === 'qcow2' ? info['format-specific'].data?.['data-file'] : undefined;
    return {
      path,
      format: info.format,
      virtualSizeBytes: info['virtual-size'],
      actualSizeBytes: info['actual-size'] ?? 0,
      ...(backingPath ? { backingPath } : {}),
      ...(dataFilePath ? { dataFilePath } : {}),
    };
  }

  /**
   * An overlay's chain must end at its backing image: one with a backing or data file of its own
   * would have QEMU open that other file (another VM's disk, say) for the new VM.
   */
  private async assertStandalone(path: string, format: VolumeFormat | undefined): Promise<void> {
    if (!format)
      throw new HypervisorError(
        'INVALID_ARGUMENT',
        'backingFormat is required with a backing image: its format is never probed',
      );
    const backing = await this.info(path, format);
    if (backing.backingPath || backing.dataFilePath) {
      throw new HypervisorError(
        'INVALID_ARGUMENT',
        `backing image ${path} has a backing file or an external data file of its own`,
      );
    }
  }

  async resize(path: string, sizeBytes: number, allowShrink = false): Promise<ImageFileInfo> {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0)
      throw new HypervisorError('INVALID_ARGUMENT', 'sizeBytes must be a positive integer');
    const current = await this.info(path);
    if (sizeBytes < current.virtualSizeBytes && !allowShrink) {
      throw new HypervisorError('INVALID_ARGUMENT', `shrinking ${path} loses data; pass allowShrink`);
    }
    const args = ['resize', '-q', '-f', current.format];
    if (allowShrink) args.push('--shrink');
    args.push(path, String(sizeBytes));
    try {
      await runProcess(this.binary, args);
    } catch (error) {
      if (/lock/i.test((error as HypervisorError).detail ?? '')) {
        throw new HypervisorError(
          'INVALID_STATE',
          `volume ${path} is in use by a running VM`,
          (error as HypervisorError).detail,
        );
      }
      throw error;
    }
    return this.info(path);
  }

  /**
   * A full copy of `source` (read as `sourceFormat`, its backing chain included) into the new file
   * `target` as a standalone image of `targetFormat`.
   */
  async convert(source: string, sourceFormat: string, target: string, targetFormat: VolumeFormat): Promise<void> {
    assertAbsolutePath('volume path', source);
    assertAbsolutePath('volume path', target);
    // An hour: a multi-GiB image on a slow disk.
    await runProcess(this.binary, ['convert', '-q', '-f', sourceFormat, '-O', targetFormat, source, target], {
      timeoutMs: 3_600_000,
    });
  }

  /**
   * A standalone qcow2 of `source` (read as `sourceFormat`, its backing chain merged in) written to
   * the local file `target`: into a hidden temporary file beside it (0600), flushed, then renamed
   * over `target`, so a failure or crash never leaves a partial file under that name. With
   * `snapshot`, the state of that internal snapshot, read with the lock shared (`-U`): a snapshot's
   * clusters never change while it exists, so a running QEMU may hold the image meanwhile.
   * INVALID_STATE when a running QEMU holds the image (without `snapshot`), SNAPSHOT_NOT_FOUND,
   * INVALID_ARGUMENT for a target folder that does not exist.
   */
  async exportImage(
    source: string,
    sourceFormat: string,
    target: string,
    options: ImageExportOptions,
  ): Promise<VolumeExportInfo> {
    assertAbsolutePath('volume path', source);
    assertAbsolutePath('local path', target);
    if (normalize(target) !== target || target.endsWith('/'))
      throw new HypervisorError('INVALID_ARGUMENT', 'local path must be a normalised absolute file path');
    if (options.snapshot !== undefined) assertSnapshotName(options.snapshot);
    const args = ['convert', '-q', '-f', sourceFormat, '-O', 'qcow2'];
    if (options.compress) args.push('-c');
    if (options.snapshot !== undefined) args.push('-U', '-l', `snapshot.name=${options.snapshot}`);
    const partial = partialPathFor(target);
    try {
      // Created private before qemu-img writes a byte of the guest's data into it.
      await (await open(partial, 'wx', 0o600)).close();
      await runProcess(this.binary, [...args, source, partial], { timeoutMs: 3_600_000 });
      await chmod(partial, 0o600);
      await syncFile(partial);
      const [written, info] = await Promise.all([stat(partial), this.info(partial, 'qcow2')]);
      await rename(partial, target);
      return { sizeBytes: written.size, virtualSizeBytes: info.virtualSizeBytes };
    } catch (error) {
      await rm(partial, { force: true });
      throw exportError(error, source, target);
    }
  }
}

/**
 * A hidden temporary name beside `path` (same folder, so the final rename is atomic; a leading dot
 * keeps it out of volume listings).
 */
export function partialPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.partial`);
}

/** A file's bytes reach the disk before it takes its final name: a crash never leaves a short file there. */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function exportError(error: unknown, source: string, target: string): HypervisorError {
  if (error instanceof HypervisorError) {
    const text = error.detail ?? error.message;
    if (IMAGE_LOCKED.test(text))
      return new HypervisorError('INVALID_STATE', `${source} is in use by a running VM`, error.detail);
    if (SNAPSHOT_MISSING.test(text))
      return new HypervisorError('SNAPSHOT_NOT_FOUND', `${source} has no such snapshot`, error.detail);
    return error;
  }
  const code = (error as NodeJS.ErrnoException).code;
  // The caller's folder is not there (or not writable): the caller's mistake, not the host's.
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES')
    return new HypervisorError('INVALID_ARGUMENT', `cannot write ${target}: ${code}`);
  return new HypervisorError(
    isFilesystemFull(error) ? 'INSUFFICIENT_STORAGE' : 'OPERATION_FAILED',
    `cannot write ${target}: ${(error as Error).message}`,
  );
}
