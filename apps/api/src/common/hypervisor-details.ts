import { HypervisorError, HypervisorErrorCode } from '@limen/libvirt';

/**
 * What users are told about a hypervisor failure, per stable code. libvirt's and QEMU's own
 * text names host paths, uids, domain names and versions (`Cannot access storage file
 * '/var/lib/…' (as uid:64055, gid:64055)`), so it only goes to the log (see hypervisorLogText).
 */
const USER_DETAILS: Record<HypervisorErrorCode, string> = {
  HYPERVISOR_UNAVAILABLE: 'The hypervisor is unavailable; try again shortly',
  DOMAIN_NOT_FOUND: 'The VM has no domain on its hypervisor',
  DOMAIN_EXISTS: "The VM's domain already exists on its hypervisor",
  SNAPSHOT_NOT_FOUND: 'The snapshot does not exist on the hypervisor',
  VOLUME_NOT_FOUND: 'A disk or image file the VM needs is missing on its host',
  VOLUME_EXISTS: 'A disk file for the VM already exists on its host',
  INVALID_STATE: 'The VM is not in a state that allows this',
  INVALID_ARGUMENT: 'The hypervisor refused the request as invalid',
  UNSUPPORTED: 'The hypervisor does not support this',
  BUSY: 'The hypervisor is busy; try again shortly',
  TIMEOUT: 'The hypervisor did not answer in time',
  INSUFFICIENT_STORAGE: 'The host has no space left for this; an operator must free some',
  NETWORK_CONFLICT: "The network's subnet or bridge clashes with one already on the host",
  NETWORK_IN_USE: 'The network is still used by a VM on the host',
  STORAGE_CONFLICT: "The storage pool's name or folder clashes with a pool already on the host",
  GUEST_AGENT_UNAVAILABLE: "The VM's guest agent is not connected",
  OPERATION_FAILED: 'The hypervisor could not complete the operation; an operator can find the cause in the api log',
};

/** A detail safe to show any user: fixed per code, nothing from the hypervisor's own text. */
export function userDetailOf(error: HypervisorError): string {
  return USER_DETAILS[error.code] ?? USER_DETAILS.OPERATION_FAILED;
}

/** The hypervisor's own words, for the log only. */
export function hypervisorLogText(error: HypervisorError): string {
  return error.detail ? `${error.message} (${error.detail.trim()})` : error.message;
}
