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
