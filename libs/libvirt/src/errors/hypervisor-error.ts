/**
 * Stable error codes, so callers (the api) can map failures to HTTP problems without parsing
 * hypervisor messages, which change between libvirt and QEMU versions.
 */
export type HypervisorErrorCode =
  | 'HYPERVISOR_UNAVAILABLE'
  | 'DOMAIN_NOT_FOUND'
  | 'DOMAIN_EXISTS'
  | 'SNAPSHOT_NOT_FOUND'
  | 'VOLUME_NOT_FOUND'
  | 'VOLUME_EXISTS'
  | 'INVALID_STATE'
  | 'INVALID_ARGUMENT'
  | 'UNSUPPORTED'
  | 'BUSY'
  | 'TIMEOUT'
  /** The filesystem a volume, seed ISO or snapshot is written to is full (ENOSPC, EDQUOT). */
  | 'INSUFFICIENT_STORAGE'
  /** A network's subnet or bridge clashes with one already on the host. */
  | 'NETWORK_CONFLICT'
  /** A network still has interfaces attached. */
  | 'NETWORK_IN_USE'
  /** A storage pool of that name has another folder, or another pool already uses the folder. */
  | 'STORAGE_CONFLICT'
  /** The guest agent is not connected (no channel, guest not running it, or it did not answer). */
  | 'GUEST_AGENT_UNAVAILABLE'
  | 'OPERATION_FAILED';

export class HypervisorError extends Error {
  override readonly name = 'HypervisorError';

  constructor(
    readonly code: HypervisorErrorCode,
    message: string,
    /** Raw hypervisor output (virsh stderr, QMP error) for logs; never shown to end users as-is. */
    readonly detail?: string,
  ) {
    super(message);
  }

  static is(value: unknown, code?: HypervisorErrorCode): value is HypervisorError {
    return value instanceof HypervisorError && (code === undefined || value.code === code);
  }
}

// strerror(ENOSPC) and strerror(EDQUOT), as qemu-img, genisoimage, xorriso and libvirt print them.
export const FILESYSTEM_FULL_TEXT = /No space left on device|Disk quota exceeded/i;
const FILESYSTEM_FULL_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);

/**
 * Whether a failure means the target filesystem is full: a Node error (`code` ENOSPC or EDQUOT)
 * or a program's error text. A full disk must not look like a bug: callers report it as
 * INSUFFICIENT_STORAGE, which an operator can act on.
 */
export function isFilesystemFull(error: unknown): boolean {
  if (typeof error === 'string') return FILESYSTEM_FULL_TEXT.test(error);
  const e = error as { code?: unknown; message?: unknown; detail?: unknown } | null | undefined;
  if (!e) return false;
  if (typeof e.code === 'string' && FILESYSTEM_FULL_CODES.has(e.code)) return true;
  return [e.message, e.detail].some((text) => typeof text === 'string' && FILESYSTEM_FULL_TEXT.test(text));
}
