import { chmod, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HypervisorError } from '../errors/hypervisor-error';
import { VolumeFormat, VolumeInfo, VolumeSpec } from '../models';
import { runProcess } from '../transport/process-runner';
import { ensurePrivateFolder } from './private-folder';
import { assertAbsolutePath } from '../xml/spec-validation';

interface QemuImgInfo {
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'format-specific'?: { type: string; data?: { 'data-file'?: string } };
}

/** Disk images through qemu-img (argv, no shell). Shared by both adapters. */
export class QemuImg {
  constructor(private readonly binary = 'qemu-img') {}

  /**
   * A qcow2 volume, readable by its owner only (libvirt hands it to QEMU's user when a domain
   * starts), in a private folder: see ensurePrivateFolder for `qemuGroupId`.
   */
  async create(spec: VolumeSpec, qemuGroupId?: number): Promise<VolumeInfo> {
    assertAbsolutePath('volume path', spec.path);
    if (spec.backingPath) assertAbsolutePath('backing path', spec.backingPath);
    if (!spec.backingPath && !spec.sizeBytes)
      throw new HypervisorError('INVALID_ARGUMENT', 'sizeBytes is required without a backing image');
    if (spec.sizeBytes !== undefined && (!Number.isSafeInteger(spec.sizeBytes) || spec.sizeBytes <= 0)) {
      throw new HypervisorError('INVALID_ARGUMENT', 'sizeBytes must be a positive integer');
    }
    if (await exists(spec.path)) throw new HypervisorError('VOLUME_EXISTS', `volume ${spec.path} already exists`);
    if (spec.backingPath) await this.assertStandalone(spec.backingPath, spec.backingFormat);
    await ensurePrivateFolder(dirname(spec.path), qemuGroupId);

    const args = ['create', '-q', '-f', 'qcow2'];
    // -F pins the backing format in the overlay, so QEMU never probes it either.
    if (spec.backingPath && spec.backingFormat) args.push('-b', spec.backingPath, '-F', spec.backingFormat);
    args.push(spec.path);
    if (spec.sizeBytes) args.push(String(spec.sizeBytes));
    await runProcess(this.binary, args);
    await chmod(spec.path, 0o600);
    return this.info(spec.path, 'qcow2');
  }

  /**
   * The file's metadata. With `format`, qemu-img opens it as that format only (and fails on a
   * file that is not one); without it qemu-img probes the content, which is safe only for files
   * LIMEN wrote itself.
   */
  async info(path: string, format?: VolumeFormat): Promise<VolumeInfo> {
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

  async resize(path: string, sizeBytes: number, allowShrink = false): Promise<VolumeInfo> {
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

  async delete(path: string): Promise<void> {
    assertAbsolutePath('volume path', path);
    await rm(path, { force: true });
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
