import { HypervisorError, isFilesystemFull } from './hypervisor-error';

describe('isFilesystemFull', () => {
  it('recognises Node errno errors and program output that say the filesystem is full', () => {
    expect(
      isFilesystemFull(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })),
    ).toBe(true);
    expect(isFilesystemFull(Object.assign(new Error('quota'), { code: 'EDQUOT' }))).toBe(true);
    // qemu-img and genisoimage on a full tmpfs (measured here).
    expect(isFilesystemFull('qemu-img: /v/disk.qcow2: Could not write qcow2 header: No space left on device')).toBe(
      true,
    );
    expect(
      isFilesystemFull(
        new HypervisorError(
          'OPERATION_FAILED',
          'genisoimage failed',
          'genisoimage: No space left on device. cannot fwrite 2048*1',
        ),
      ),
    ).toBe(true);
  });

  it('is false for anything else', () => {
    expect(isFilesystemFull(Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }))).toBe(false);
    expect(
      isFilesystemFull(new HypervisorError('HYPERVISOR_UNAVAILABLE', 'virsh version: End of file while reading data')),
    ).toBe(false);
    expect(isFilesystemFull(undefined)).toBe(false);
    expect(isFilesystemFull(null)).toBe(false);
    expect(isFilesystemFull('')).toBe(false);
  });
});
