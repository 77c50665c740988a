import { HypervisorError } from '../errors/hypervisor-error';

/** libvirt networks LIMEN defines are named `limen-net-…`; listNetworks shows only those. */
export const NETWORK_NAME_PREFIX = 'limen-net-';
const NETWORK_NAME = /^limen-net-[a-z0-9-]{1,40}$/;
/** Linux interface names: at most 15 characters (IFNAMSIZ - 1); LIMEN's own are lower-case. */
const BRIDGE_NAME = /^[a-z0-9-]{1,15}$/;
/** Host bridges an admin names: what `ip link` accepts without quoting, at most 15 characters. */
const HOST_BRIDGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
/** Prefix of the bridges of LIMEN networks (`lnbr-<8 hex>`). */
export const LIMEN_BRIDGE_PREFIX = 'lnbr-';
const NIC_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

function invalid(message: string): never {
  throw new HypervisorError('INVALID_ARGUMENT', message);
}

/** The libvirt network of a LIMEN network: `limen-net-` and the first 8 hex digits of its id. */
export function libvirtNetworkName(networkId: string): string {
  return NETWORK_NAME_PREFIX + hexPrefix(networkId);
}

/** The host bridge libvirt creates for a LIMEN network: `lnbr-` and 8 hex digits (13 characters). */
export function libvirtBridgeName(networkId: string): string {
  return LIMEN_BRIDGE_PREFIX + hexPrefix(networkId);
}

function hexPrefix(id: string): string {
  const hex = id.replace(/-/g, '').toLowerCase().slice(0, 8);
  if (!/^[0-9a-f]{8}$/.test(hex)) invalid(`not a network id: ${JSON.stringify(id)}`);
  return hex;
}

export function assertNetworkName(name: string): void {
  if (typeof name !== 'string' || !NETWORK_NAME.test(name))
    invalid(`invalid network name ${JSON.stringify(name)}: expected limen-net- and 1-40 of [a-z0-9-]`);
}

/** The bridge of a LIMEN network (created by libvirt). */
export function assertLimenBridgeName(name: string): void {
  if (typeof name !== 'string' || !BRIDGE_NAME.test(name))
    invalid(`invalid bridge name ${JSON.stringify(name)}: expected 1-15 of [a-z0-9-]`);
}

/** An existing host bridge a NIC attaches to. */
export function assertHostBridgeName(name: string): void {
  if (typeof name !== 'string' || !HOST_BRIDGE_NAME.test(name))
    invalid(`invalid bridge name ${JSON.stringify(name)}: expected 1-15 of [A-Za-z0-9_.-]`);
}

export function assertNicId(id: string): void {
  if (typeof id !== 'string' || !NIC_ID.test(id))
    invalid(`invalid NIC id ${JSON.stringify(id)}: expected 1-64 of [A-Za-z0-9-]`);
}

/** The device alias of a NIC (libvirt user aliases start with `ua-`); also the QEMU id of a user-mode NIC. */
export function nicAlias(nicId: string): string {
  assertNicId(nicId);
  return `ua-nic-${nicId}`;
}

export function nicIdFromAlias(alias: string | undefined): string | undefined {
  if (!alias?.startsWith('ua-nic-')) return undefined;
  const id = alias.slice('ua-nic-'.length);
  return NIC_ID.test(id) ? id : undefined;
}

/** The QEMU netdev id of a user-mode NIC (the target of hostfwd_add / hostfwd_remove). */
export function userNetdevId(nicId: string): string {
  assertNicId(nicId);
  return `limen-user-${nicId}`;
}

export function nicIdFromUserNetdev(netdevId: string | undefined): string | undefined {
  if (!netdevId?.startsWith('limen-user-')) return undefined;
  const id = netdevId.slice('limen-user-'.length);
  return NIC_ID.test(id) ? id : undefined;
}
