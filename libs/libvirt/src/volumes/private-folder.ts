import { chmod, chown, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HypervisorError } from '../errors/hypervisor-error';

/**
 * Makes the folder that holds a VM's files private. Its disk and its seed ISO (the user's
 * cloud-init, passwords included) must not be readable by other local users, so the folder is
 * 0700, or 0750 with `qemuGroupId` as its group when QEMU runs as another user (libvirt's
 * libvirt-qemu): QEMU can then reach the files libvirt hands to it, and nobody else can list or
 * open them. Missing parents are created 0755 (QEMU must traverse them) and otherwise left alone.
 */
export async function ensurePrivateFolder(folder: string, qemuGroupId?: number): Promise<void> {
  await mkdir(dirname(folder), { recursive: true, mode: 0o755 });
  await mkdir(folder, { recursive: true, mode: 0o700 });
  if (qemuGroupId !== undefined) {
    try {
      await chown(folder, -1, qemuGroupId);
    } catch (error) {
      throw new HypervisorError(
        'OPERATION_FAILED',
        `cannot give ${folder} to QEMU's group (gid ${qemuGroupId}): the api must run as root or as a member of that group`,
        (error as Error).message,
      );
    }
  }
  // Explicitly: the process umask must not decide who may read a VM's files.
  await chmod(folder, qemuGroupId === undefined ? 0o700 : 0o750);
}
