import { chmod, copyFile, FileHandle, open } from 'node:fs/promises';
import { isAbsolute, normalize } from 'node:path';
import { HypervisorError, HypervisorErrorCode, isFilesystemFull } from '../../errors/hypervisor-error';
import { PoolVolumeInfo, VolumeFormat, VolumeRef } from '../../models';
import { assertPoolName, assertVolumeName } from '../../naming/storage-name';
import { VirshCommand } from '../../transport/virsh-command';
import { ParsedVolume } from '../../xml/storage-xml';

/** The pools LIMEN manages (and lists): see naming/storage-name. */
export const LIMEN_POOL_PREFIX = 'limen-';

/** Runs one virsh command and resolves with its stdout, libvirt's storage messages mapped (storageError). */
export type StorageCommandRunner = (command: VirshCommand) => Promise<string>;

// libvirt's storage messages, read before the generic mapper's guesses: its "already exists" means
// a domain and its "Requested operation is not valid" a domain state, neither right for a volume.
const STORAGE_ERRORS: Array<[RegExp, HypervisorErrorCode]> = [
  [/Storage source conflict with pool|Storage target conflict/i, 'STORAGE_CONFLICT'],
  [
    /storage volume '.*' exists already|storage volume name '.*' already in use|volume target path '.*' already exists/i,
    'VOLUME_EXISTS',
  ],
  [/Storage volume not found|no storage vol with matching/i, 'VOLUME_NOT_FOUND'],
  [/Storage pool not found|no storage pool with matching/i, 'VOLUME_NOT_FOUND'],
  // qemu-img (run by libvirtd) cannot take the image lock a running QEMU holds.
  [/Failed to get ".*" lock|Is another process using the image/i, 'INVALID_STATE'],
  [/Not enough space left in storage pool/i, 'INSUFFICIENT_STORAGE'],
  // A refresh while libvirt builds a volume in the pool (vol-create, vol-clone).
  [/has asynchronous jobs running/i, 'BUSY'],
];
const KEPT_CODES: ReadonlySet<HypervisorErrorCode> = new Set(['HYPERVISOR_UNAVAILABLE', 'TIMEOUT', 'BUSY']);

/** libvirt's text for a pool that is not there (mapped to VOLUME_NOT_FOUND, told apart with this). */
export const POOL_MISSING = /Storage pool not found|no storage pool with matching/i;

/** A virsh failure with the code its storage message means; other errors as they are. */
export function storageError(error: unknown): unknown {
  if (!HypervisorError.is(error) || KEPT_CODES.has(error.code)) return error;
  const code = STORAGE_ERRORS.find(([pattern]) => pattern.test(errorText(error)))?.[1];
  return code && code !== error.code ? new HypervisorError(code, error.message, error.detail) : error;
}

/** The hypervisor's own words of an error (virsh stderr), for matching and logs. */
export function errorText(error: unknown): string {
  return HypervisorError.is(error) ? (error.detail ?? error.message) : String(error);
}

export function invalid(message: string): never {
  throw new HypervisorError('INVALID_ARGUMENT', message);
}

export function assertRef(ref: VolumeRef, label = 'volume'): void {
  if (!ref || typeof ref !== 'object') invalid(`${label} must name a pool and a volume`);
  assertPoolName(ref.pool);
  assertVolumeName(ref.name);
}

const FORMATS: readonly VolumeFormat[] = ['qcow2', 'raw'];

export function assertFormat(format: unknown, label = 'format'): asserts format is VolumeFormat {
  if (!FORMATS.includes(format as VolumeFormat)) invalid(`${label} must be one of ${FORMATS.join(', ')}`);
}

export function assertSize(label: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) invalid(`${label} must be a positive integer`);
}

/**
 * A path named to libvirt or to the local filesystem names exactly the file meant: absolute,
 * normalised (so no `.`, `..` or doubled slashes), no trailing slash, no control characters.
 */
export function assertStoragePath(label: string, path: string): void {
  if (typeof path !== 'string' || !isAbsolute(path)) invalid(`${label} must be an absolute path`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) invalid(`${label} must not contain control characters`);
  if (path.length > 4096 || normalize(path) !== path || path.endsWith('/'))
    invalid(`${label} must be a normalised absolute path below /`);
}

/**
 * PoolVolumeInfo of a parsed volume. With `format` it is read as that format only: `raw` is the
 * file as it is (its header, which libvirt probed, is not looked at), `qcow2` is refused when the
 * file is not one.
 */
export function toVolumeInfo(ref: VolumeRef, parsed: ParsedVolume, format?: VolumeFormat): PoolVolumeInfo {
  const base = { pool: ref.pool, name: ref.name, path: parsed.path, actualSizeBytes: parsed.allocationBytes };
  if (format === 'raw')
    return { ...base, format: 'raw', virtualSizeBytes: parsed.physicalBytes ?? parsed.capacityBytes };
  if (format === 'qcow2' && parsed.format !== 'qcow2')
    invalid(`volume ${ref.name} is not a qcow2 image (libvirt reads it as ${parsed.format})`);
  return {
    ...base,
    format: parsed.format,
    virtualSizeBytes: parsed.capacityBytes,
    ...(parsed.backing ? { backingPath: parsed.backing.path } : {}),
  };
}

/**
 * The local file's bytes into an existing file on this machine (a volume libvirt made, which keeps
 * its owner and mode), within `timeoutMs` (TIMEOUT); a full filesystem is INSUFFICIENT_STORAGE.
 * copyFile lets the kernel move the bytes (copy_file_range): about three times faster than a
 * stream through this process under load (backup bench), which matters for a restore of gigabytes.
 * It writes through /proc/self/fd of a handle opened without O_CREAT, so a copy that outlives its
 * timeout (it cannot be cut) writes into the same inode, never a new file where the volume was.
 */
export async function copyIntoFile(localPath: string, path: string, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new HypervisorError('TIMEOUT', `copying ${localPath} took over ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  let target: FileHandle | undefined;
  try {
    target = await open(path, 'r+');
    const { mode } = await target.stat();
    const copy = copyFile(localPath, `/proc/self/fd/${target.fd}`);
    // The handle stays open until the copy ends, however the race goes: the fd must name the volume.
    const handle = target;
    target = undefined;
    void copy.then(
      () => handle.close(),
      () => handle.close(),
    );
    await Promise.race([copy, timeout]);
    // copyFile gives the file the source's mode: the volume's own is put back.
    await chmod(path, mode & 0o7777);
  } catch (error) {
    if (HypervisorError.is(error, 'TIMEOUT')) throw error;
    const code = isFilesystemFull(error) ? 'INSUFFICIENT_STORAGE' : 'OPERATION_FAILED';
    throw new HypervisorError(code, `cannot copy ${localPath}: ${(error as Error).message}`);
  } finally {
    clearTimeout(timer);
    await target?.close();
  }
}
