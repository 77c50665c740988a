import { FILESYSTEM_FULL_TEXT, HypervisorError, HypervisorErrorCode } from '../errors/hypervisor-error';

// Ordered: the first matching pattern decides. Messages are libvirt's virErrorNumber texts,
// which are stable across releases (they are part of the public error catalogue).
const PATTERNS: Array<[RegExp, HypervisorErrorCode]> = [
  [
    /failed to connect to the hypervisor|Failed to reconnect to the hypervisor|no valid connection|Failed to connect socket|Cannot recv data|End of file while reading data|no connection driver available|not connected to the hypervisor/i,
    'HYPERVISOR_UNAVAILABLE',
  ],
  // An internal snapshot (or a save) into a full filesystem; before the generic patterns, which its message may also match.
  [FILESYSTEM_FULL_TEXT, 'INSUFFICIENT_STORAGE'],
  // Before INVALID_STATE and UNSUPPORTED: "Guest agent is not responding: QEMU guest agent is not
  // connected", "argument unsupported: QEMU guest agent is not configured" (no channel).
  [
    /guest agent is not (responding|connected|configured|available)|QEMU guest agent|agent is not connected/i,
    'GUEST_AGENT_UNAVAILABLE',
  ],
  // A subnet the host already routes ("Network is already in use by interface eth0") or a bridge
  // another network has ("bridge name 'x' already in use").
  [/Network is already in use by interface|bridge name .* already in use/i, 'NETWORK_CONFLICT'],
  // "Network not found: no network with matching name 'x'": a NIC or lease asked of a network that is not there.
  [/Network not found|no network with matching name|failed to get network/i, 'INVALID_ARGUMENT'],
  [/Domain snapshot not found|snapshot .* not found|no domain snapshot with matching name/i, 'SNAPSHOT_NOT_FOUND'],
  [/Domain not found|failed to get domain|no domain with matching (name|uuid)/i, 'DOMAIN_NOT_FOUND'],
  [/already exists|domain .* is already defined/i, 'DOMAIN_EXISTS'],
  [/Storage volume not found/i, 'VOLUME_NOT_FOUND'],
  [
    /domain is not running|is already running|domain is already active|Requested operation is not valid|not paused|already paused|domain has active|operation is not valid/i,
    'INVALID_STATE',
  ],
  [/Timed out during operation|timed out/i, 'TIMEOUT'],
  [/unsupported configuration|Operation not supported|this function is not supported/i, 'UNSUPPORTED'],
  [
    /invalid argument|XML error|XML document failed to validate|expected unsigned integer|numerical overflow/i,
    'INVALID_ARGUMENT',
  ],
];

/**
 * Turns virsh's stderr into a typed error; the raw text stays available as `detail`.
 * `connectionLost`: virsh said its connection closed during the command. That decides, because
 * virsh clears libvirt's error after a failed domain lookup: a command whose connection dropped
 * under it (libvirtd killed) prints only "failed to get domain", which reads as DOMAIN_NOT_FOUND.
 */
export function mapVirshError(stderr: string, context: string, connectionLost = false): HypervisorError {
  const errorLines = stderr
    .split('\n')
    .filter((line) => line.startsWith('error: '))
    .map((line) => line.slice('error: '.length));
  const message = errorLines.join('; ') || stderr.trim() || 'virsh failed';
  const code = connectionLost
    ? 'HYPERVISOR_UNAVAILABLE'
    : (PATTERNS.find(([pattern]) => pattern.test(message))?.[1] ?? 'OPERATION_FAILED');
  return new HypervisorError(code, `${context}: ${message}`, stderr);
}
