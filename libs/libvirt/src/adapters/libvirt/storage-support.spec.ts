import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HypervisorError } from '../../errors/hypervisor-error';
import { mapVirshError } from '../../transport/virsh-error-mapper';
import { assertStoragePath, copyIntoFile, storageError, toVolumeInfo } from './storage-support';

/** A virsh failure as the session pool reports it, then as LibvirtStorage maps it. */
function mapped(stderr: string): unknown {
  return storageError(mapVirshError(stderr, 'virsh test'));
}

describe('storage errors', () => {
  it.each([
    ["error: operation failed: Storage source conflict with pool: 'limen-a'", 'STORAGE_CONFLICT'],
    ["error: storage volume 'a.qcow2' exists already", 'VOLUME_EXISTS'],
    ["error: internal error: storage volume name 'a.qcow2' already in use.", 'VOLUME_EXISTS'],
    ["error: Requested operation is not valid: volume target path '/p/c.qcow2' already exists", 'VOLUME_EXISTS'],
    [
      "error: failed to get vol 'x'\nerror: Storage volume not found: no storage vol with matching path 'x'",
      'VOLUME_NOT_FOUND',
    ],
    [
      "error: failed to get pool 'limen-nope'\nerror: Storage pool not found: no storage pool with matching name 'limen-nope'",
      'VOLUME_NOT_FOUND',
    ],
    [
      `error: internal error: Child process (/usr/bin/qemu-img resize /p/a.qcow2 3221225472) unexpected exit status 1: qemu-img: Could not open '/p/a.qcow2': Failed to get "write" lock\nIs another process using the image [/p/a.qcow2]?`,
      'INVALID_STATE',
    ],
    ["error: internal error: pool 'limen-vms' has asynchronous jobs running.", 'BUSY'],
    [
      "error: invalid argument: Can't shrink capacity below current capacity unless shrink flag explicitly specified",
      'INVALID_ARGUMENT',
    ],
  ])('%s → %s', (stderr, code) => {
    expect(mapped(stderr)).toMatchObject({ code });
  });

  it('keeps connection loss and timeouts as they are', () => {
    const lost = new HypervisorError('HYPERVISOR_UNAVAILABLE', 'x', 'Storage volume not found');
    expect(storageError(lost)).toBe(lost);
    const timeout = new HypervisorError('TIMEOUT', 'virsh timed out');
    expect(storageError(timeout)).toBe(timeout);
  });
});

describe('storage paths', () => {
  it.each(['/var/lib/limen/pool', '/a', '/srv/x y/z.log'])('accepts %s', (path) => {
    expect(() => assertStoragePath('p', path)).not.toThrow();
  });

  it.each(['relative/x', '/a/../b', '/a/./b', '//a', '/a//b', '/a/', '/', '/a/b\n', '/a\u0000b', ''])(
    'refuses %j',
    (path) => {
      expect(() => assertStoragePath('p', path)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    },
  );
});

describe('volume info in a given format', () => {
  const parsed = {
    name: 'x.img',
    path: '/p/x.img',
    format: 'qcow2',
    capacityBytes: 1 << 30,
    allocationBytes: 8192,
    physicalBytes: 200_000,
    backing: { path: '/etc/shadow' },
  };
  const ref = { pool: 'limen-vms', name: 'x.img' };

  it('as probed: the qcow2 virtual size and backing file', () => {
    expect(toVolumeInfo(ref, parsed)).toEqual({
      ...ref,
      path: '/p/x.img',
      format: 'qcow2',
      virtualSizeBytes: 1 << 30,
      actualSizeBytes: 8192,
      backingPath: '/etc/shadow',
    });
  });

  it('as raw: the file as it is, its header (and the backing file it names) ignored', () => {
    expect(toVolumeInfo(ref, parsed, 'raw')).toEqual({
      ...ref,
      path: '/p/x.img',
      format: 'raw',
      virtualSizeBytes: 200_000,
      actualSizeBytes: 8192,
    });
  });

  it('as qcow2: refused when the file is not one', () => {
    expect(() => toVolumeInfo(ref, { ...parsed, format: 'raw' }, 'qcow2')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('copyIntoFile', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'limen-copy-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('replaces every byte of the existing file and keeps its mode', async () => {
    const source = join(dir, 'source');
    const target = join(dir, 'volume');
    writeFileSync(source, 'new bytes');
    chmodSync(source, 0o644);
    writeFileSync(target, 'older and longer content');
    chmodSync(target, 0o600);
    await copyIntoFile(source, target, 10_000);
    expect(readFileSync(target, 'utf8')).toBe('new bytes');
    expect(statSync(target).mode & 0o777).toBe(0o600);
  });

  it('reports a missing source as a failed operation', async () => {
    const target = join(dir, 'volume');
    writeFileSync(target, '');
    await expect(copyIntoFile(join(dir, 'missing'), target, 10_000)).rejects.toMatchObject({
      code: 'OPERATION_FAILED',
    });
  });
});
