import { createHash } from 'node:crypto';
import { HypervisorError } from '../errors/hypervisor-error';

export const DOMAIN_NAME_PREFIX = 'limen-';

// VM ids are UUIDs in practice; the check keeps names and file names derived from them safe.
const VM_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

export function assertVmId(vmId: string): void {
  if (!VM_ID.test(vmId)) {
    throw new HypervisorError(
      'INVALID_ARGUMENT',
      `invalid VM id ${JSON.stringify(vmId)}: expected 1-64 of [A-Za-z0-9-]`,
    );
  }
}

/** The domain name is derived from the VM id, never from the user's name for the VM. */
export function domainNameFor(vmId: string): string {
  assertVmId(vmId);
  return DOMAIN_NAME_PREFIX + vmId;
}

export function vmIdFromDomainName(name: string): string | undefined {
  if (!name.startsWith(DOMAIN_NAME_PREFIX)) return undefined;
  const vmId = name.slice(DOMAIN_NAME_PREFIX.length);
  return VM_ID.test(vmId) ? vmId : undefined;
}

/**
 * A stable locally administered MAC in QEMU's 52:54:00 range, derived from the VM id, so each
 * VM gets its own address (the original system gave every VM the same one) and keeps it across
 * redefinitions. 24 bits of hash: callers with thousands of VMs on one network can pass `mac`.
 */
export function macAddressFor(vmId: string): string {
  const digest = createHash('sha256').update(vmId).digest();
  const tail = [...digest.subarray(0, 3)].map((byte) => byte.toString(16).padStart(2, '0'));
  return ['52', '54', '00', ...tail].join(':');
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function assertMac(mac: string): void {
  if (!MAC.test(mac)) throw new HypervisorError('INVALID_ARGUMENT', `invalid MAC address ${JSON.stringify(mac)}`);
  // The low bit of the first octet marks multicast, which a NIC must not use.
  if (parseInt(mac.slice(0, 2), 16) & 1) throw new HypervisorError('INVALID_ARGUMENT', `multicast MAC address ${mac}`);
}

const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Snapshot names reach QEMU's human monitor (savevm), which has no quoting; keep them plain. */
export function assertSnapshotName(name: string): void {
  if (!SNAPSHOT_NAME.test(name)) {
    throw new HypervisorError(
      'INVALID_ARGUMENT',
      `invalid snapshot name ${JSON.stringify(name)}: expected 1-64 of [A-Za-z0-9._-]`,
    );
  }
}
