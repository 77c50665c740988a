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
