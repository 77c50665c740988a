import { HypervisorError } from '../errors/hypervisor-error';

/** Every host's pool for VM disks, seed ISOs and serial logs (and, on remote hosts, cached images). */
export const VM_POOL_NAME = 'limen-vms';
/** The api machine's pool over IMAGE_DIR: local hosts use images in place, never copied. */
export const IMAGE_POOL_NAME = 'limen-images';

const POOL_NAME = /^limen-[a-z0-9-]{1,40}$/;
/** Flat file names: no separators, no leading dot, nothing a shell or XML would need quoted. */
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function invalid(message: string): never {
  throw new HypervisorError('INVALID_ARGUMENT', message);
}

export function assertPoolName(name: string): void {
  if (!POOL_NAME.test(name)) invalid(`not a LIMEN storage pool name: ${JSON.stringify(name)}`);
}

export function assertVolumeName(name: string): void {
  if (!VOLUME_NAME.test(name) || name.includes('..')) invalid(`not a volume name: ${JSON.stringify(name)}`);
}

function id(kind: string, value: string): string {
  if (!ID.test(value)) invalid(`not a ${kind} id: ${JSON.stringify(value)}`);
  return value;
}

/** A VM's disk: `<vmId>-disk-<diskId>.qcow2`. Derived from ids only, never from user input. */
export function diskVolumeName(vmId: string, diskId: string): string {
  return `${id('VM', vmId)}-disk-${id('disk', diskId)}.qcow2`;
}

export function seedVolumeName(vmId: string): string {
  return `${id('VM', vmId)}-seed.iso`;
}

/** The serial log lives in the VM pool too, so a remote host needs no folder of the api's. */
export function serialLogName(vmId: string): string {
  return `${id('VM', vmId)}-serial.log`;
}

/**
 * An image cached on a remote host: by content, so a changed image is a new volume. `file` tells
 * the files of a kernel image apart (`kernel`, `initrd`); `ext` is the image's own extension.
 */
export function imageVolumeName(
  sha256: string,
  ext: 'qcow2' | 'raw' | 'iso' | 'img',
  file?: 'kernel' | 'initrd',
): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) invalid('not a sha256 digest');
  return `image-${sha256.slice(0, 32)}${file ? `-${file}` : ''}.${ext}`;
}
