import { HypervisorError } from '../errors/hypervisor-error';

export function assertSizeBytes(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0)
    throw new HypervisorError('INVALID_ARGUMENT', 'sizeBytes must be a positive integer');
}

/**
 * Whether a disk of `current` bytes has to grow to `sizeBytes`: false for the same size (a retried
 * grow), INVALID_ARGUMENT for a smaller one (shrinking a disk loses the data at its end).
 */
export function checkGrowth(what: string, current: number, sizeBytes: number): boolean {
  if (sizeBytes < current)
    throw new HypervisorError(
      'INVALID_ARGUMENT',
      `${what} is ${current} bytes: shrinking it to ${sizeBytes} would lose data`,
    );
  return sizeBytes > current;
}
