/** Runtime state of a domain as the hypervisor reports it (libvirt's virDomainState). */
export type DomainState =
  | 'nostate'
  | 'running'
  | 'blocked'
  | 'paused'
  | 'shutdown' // shutting down: the guest got the request but has not stopped yet
  | 'shutoff'
  | 'crashed'
  | 'pmsuspended';

/** libvirt's numeric virDomainState, as printed by `virsh domstats --state`. */
export const DOMAIN_STATE_BY_CODE: readonly DomainState[] = [
  'nostate',
  'running',
  'blocked',
  'paused',
  'shutdown',
  'shutoff',
  'crashed',
  'pmsuspended',
];

/** Parses libvirt's state code; unknown codes (newer libvirt) become `nostate`. */
export function domainStateFromCode(code: number): DomainState {
  return DOMAIN_STATE_BY_CODE[code] ?? 'nostate';
}

/**
 * Why a domain is shut off (libvirt's virDomainShutoffReason). It matters for one case: a QEMU
 * process that died without a guest shutdown (killed, or aborted) leaves the domain `shutoff`
 * with reason `crashed`, not in the `crashed` state, and libvirt keeps that reason until the
 * domain starts again. A sweep that looked at the state alone would report such a VM as
 * cleanly stopped.
 */
export type ShutoffReason =
  'unknown' | 'shutdown' | 'destroyed' | 'crashed' | 'migrated' | 'saved' | 'failed' | 'from-snapshot' | 'daemon';

/** libvirt's numeric virDomainShutoffReason, as printed by `virsh domstats --state` (state.reason). */
export const SHUTOFF_REASON_BY_CODE: readonly ShutoffReason[] = [
  'unknown',
  'shutdown',
  'destroyed',
  'crashed',
  'migrated',
  'saved',
  'failed',
  'from-snapshot',
  'daemon',
];

/** Parses libvirt's shutoff reason code; unknown codes (newer libvirt) become `unknown`. */
export function shutoffReasonFromCode(code: number): ShutoffReason {
  return SHUTOFF_REASON_BY_CODE[code] ?? 'unknown';
}
