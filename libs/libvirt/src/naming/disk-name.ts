import { HypervisorError } from '../errors/hypervisor-error';

/** LIMEN disk ids are UUIDs; anything of this shape is accepted, so it can become a device alias unquoted. */
const DISK_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
const ALIAS_PREFIX = 'ua-disk-';

export function assertDiskId(id: string): void {
  if (typeof id !== 'string' || !DISK_ID.test(id))
    throw new HypervisorError(
      'INVALID_ARGUMENT',
      `invalid disk id ${JSON.stringify(id)}: expected 1-64 of [A-Za-z0-9-]`,
    );
}

/** The device alias of a disk (libvirt user aliases start with `ua-`); also its QEMU device id under qemu-direct. */
export function diskAlias(diskId: string): string {
  assertDiskId(diskId);
  return `${ALIAS_PREFIX}${diskId}`;
}

export function diskIdFromAlias(alias: string | undefined): string | undefined {
  if (!alias?.startsWith(ALIAS_PREFIX)) return undefined;
  const id = alias.slice(ALIAS_PREFIX.length);
  return DISK_ID.test(id) ? id : undefined;
}
