import { randomBytes } from 'node:crypto';
import { chmod, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';
import { HypervisorError, isFilesystemFull } from '../errors/hypervisor-error';
import { withScratchDir } from '../host/scratch-dir';
import { ImageFileInfo, SeedIsoDocuments } from '../models';
import { runProcess } from '../transport/process-runner';
import { ensurePrivateFolder } from './private-folder';

/** A seed ISO to write at `path`. */
export interface SeedIsoSpec extends SeedIsoDocuments {
  /** Absolute path of the ISO to write, ending in `.iso`. An existing file is replaced atomically. */
  path: string;
}

/** A program that writes ISO 9660 images and understands genisoimage's options. */
export interface IsoWriterProgram {
  file: string;
  /** Arguments before the genisoimage options, e.g. xorriso's `-as mkisofs`. */
  args: readonly string[];
}

/** genisoimage first; xorriso emulates it on hosts that only have xorriso. */
export const DEFAULT_ISO_WRITERS: readonly IsoWriterProgram[] = [
  { file: 'genisoimage', args: [] },
  { file: 'xorriso', args: ['-as', 'mkisofs'] },
];

/** The volume label cloud-init's NoCloud datasource looks for. */
const NOCLOUD_VOLUME_ID = 'cidata';

function invalid(message: string): never {
  throw new HypervisorError('INVALID_ARGUMENT', message);
}

/** Checks a seed spec before anything touches the disk. Exported for unit tests. */
export function validateSeedIsoSpec(spec: SeedIsoSpec): void {
  const path: unknown = spec?.path;
  if (typeof path !== 'string' || !isAbsolute(path)) invalid('seed ISO path must be an absolute path');
  if (/[\0\r\n]/.test(path)) invalid('seed ISO path must not contain NUL or line breaks');
  // A normalized path has no `..`, `.` or doubled slashes, so it names exactly the file the api meant.
  if (normalize(path) !== path) invalid('seed ISO path must be normalized');
  if (!path.endsWith('.iso')) invalid('seed ISO path must end with .iso');
  if (typeof spec.metaData !== 'string') invalid('metaData must be a string');
  if (typeof spec.userData !== 'string') invalid('userData must be a string');
  if (spec.networkConfig !== undefined && typeof spec.networkConfig !== 'string')
    invalid('networkConfig must be a string');
}

/**
 * Builds cloud-init NoCloud seed ISOs. Shared by both adapters. The documents are written into a
 * private scratch folder and only those fixed file names reach the ISO writer's argv (no shell),
 * so user-controlled text is never an argument. The image is written beside the target under a
 * temporary name and renamed into place, so a reader never sees a half-written seed.
 */
export class SeedIsoWriter {
  constructor(private readonly writers: readonly IsoWriterProgram[] = DEFAULT_ISO_WRITERS) {}

  /** `qemuGroupId`: see ensurePrivateFolder. */
  async create(spec: SeedIsoSpec, qemuGroupId?: number): Promise<ImageFileInfo> {
    validateSeedIsoSpec(spec);
    const folder = dirname(spec.path);
    const partial = join(folder, `.${basename(spec.path)}.${randomBytes(6).toString('hex')}.partial`);
    try {
      await ensurePrivateFolder(folder, qemuGroupId);
      await withScratchDir(async (scratch) => {
        const files = await writeDocuments(scratch, spec);
        await this.runWriter(['-output', partial, '-volid', NOCLOUD_VOLUME_ID, '-joliet', '-rock', ...files]);
      });
      // It holds the user's cloud-init (passwords too): its owner only, whatever the umask.
      // libvirt hands it to QEMU's user when the domain starts.
      await chmod(partial, 0o600);
      await flushToDisk(partial);
      await rename(partial, spec.path);
    } catch (error) {
      await rm(partial, { force: true });
      if (error instanceof HypervisorError) throw error;
      throw new HypervisorError(
        isFilesystemFull(error) ? 'INSUFFICIENT_STORAGE' : 'OPERATION_FAILED',
        `cannot write seed ISO ${spec.path}: ${(error as Error).message}`,
      );
    }
    const written = await stat(spec.path);
    return { path: spec.path, format: 'raw', virtualSizeBytes: written.size, actualSizeBytes: written.blocks * 512 };
  }

  private async runWriter(options: readonly string[]): Promise<void> {
    for (const writer of this.writers) {
      try {
        await runProcess(writer.file, [...writer.args, ...options]);
        return;
      } catch (error) {
        // runProcess reports a program that cannot be started this way; a failed run is final.
        if (!HypervisorError.is(error, 'HYPERVISOR_UNAVAILABLE')) throw error;
      }
    }
    const names = this.writers.map((writer) => writer.file).join(', ');
    throw new HypervisorError('OPERATION_FAILED', `cannot build a seed ISO: none of ${names} could be run`);
  }
}

/** Writes the NoCloud documents and returns their paths, in a fixed order. */
async function writeDocuments(scratch: string, spec: SeedIsoSpec): Promise<string[]> {
  const documents: Array<[string, string]> = [
    ['meta-data', spec.metaData],
    ['user-data', spec.userData],
  ];
  if (spec.networkConfig !== undefined) documents.push(['network-config', spec.networkConfig]);
  const files: string[] = [];
  for (const [name, content] of documents) {
    const file = join(scratch, name);
    // Rock Ridge records file modes in the image; readable documents suit non-root tools in the guest.
    await writeFile(file, content, { encoding: 'utf8', mode: 0o644 });
    files.push(file);
  }
  return files;
}

/** Without this, a crash right after the rename could leave an empty file under the final name. */
async function flushToDisk(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
