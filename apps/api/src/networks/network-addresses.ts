import { randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';

/** A network's name: a-z 0-9 -, starting alphanumeric (the admin's label; never reaches the hypervisor). */
export const NETWORK_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** A host bridge an admin names: what reaches libvirt XML and `ip` untouched, so nothing but these characters. */
export const BRIDGE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;
/** Lower- or upper-case `xx:xx:xx:xx:xx:xx`. */
export const MAC_ADDRESS = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
export const MIN_PREFIX = 16;
export const MAX_PREFIX = 29;

/** Address ranges no LIMEN network may use (ipaddr.js range names), and 240.0.0.0/4 ("future use"). */
const UNUSABLE_RANGES = new Set(['unspecified', 'broadcast', 'multicast', 'linkLocal']);
const FUTURE_USE = ipaddr.IPv4.parseCIDR('240.0.0.0/4');
/** On every host whatever its routes say. */
export const LOOPBACK_CIDR = '127.0.0.0/8';

/** A subnet with what a libvirt network needs of it: the network, its first and last host. */
export interface Subnet {
  cidr: string;
  prefix: number;
  network: number;
  broadcast: number;
}

/** Why an input is refused (the field and a message); null when it is fine. */
export type AddressProblem = { field: string; message: string } | null;

/** Dotted-quad IPv4 only: no short forms, octal, hex or leading zeros. */
export function isIpv4(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text);
}

function toNumber(address: string): number {
  return ipaddr.IPv4.parse(address)
    .toByteArray()
    .reduce((n, byte) => n * 256 + byte, 0);
}

export function toAddress(n: number): string {
  return ipaddr.fromByteArray([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]).toString();
}

/** Parses `a.b.c.d/n` as a LIMEN network subnet (IPv4, /16–/29, a network address, a usable range). */
export function parseSubnet(cidr: string): Subnet | { problem: string } {
  const match = /^(.+)\/(\d{1,2})$/.exec(cidr);
  if (!match || !isIpv4(match[1]) || !ipaddr.IPv4.isValidCIDRFourPartDecimal(cidr))
    return { problem: 'cidr must be an IPv4 subnet like 10.77.0.0/24' };
  const prefix = Number(match[2]);
  if (prefix < MIN_PREFIX || prefix > MAX_PREFIX)
    return { problem: `cidr must have a prefix from /${MIN_PREFIX} to /${MAX_PREFIX}` };
  const network = ipaddr.IPv4.networkAddressFromCIDR(cidr).toString();
  if (network !== match[1]) return { problem: `cidr must name its network address (${network}/${prefix})` };
  const base = ipaddr.IPv4.parse(network);
  if (UNUSABLE_RANGES.has(base.range()) || base.match(FUTURE_USE))
    return { problem: `cidr lies in a range no network may use (${base.range()})` };
  return {
    cidr,
    prefix,
    network: toNumber(network),
    broadcast: toNumber(ipaddr.IPv4.broadcastAddressFromCIDR(cidr).toString()),
  };
}

/** Whether the two subnets share an address (one contains the other). IPv6 routes never overlap an IPv4 subnet. */
export function cidrsOverlap(a: string, b: string): boolean {
  if (!ipaddr.isValidCIDR(a) || !ipaddr.isValidCIDR(b)) return false;
  const [addrA, prefixA] = ipaddr.parseCIDR(a);
  const [addrB, prefixB] = ipaddr.parseCIDR(b);
  if (addrA.kind() !== 'ipv4' || addrB.kind() !== 'ipv4') return false;
  return prefixA <= prefixB ? addrB.match(addrA, prefixA) : addrA.match(addrB, prefixB);
}

export interface AddressPlan {
  gateway: string;
  dhcpStart: string;
  dhcpEnd: string;
}

/**
 * The gateway and DHCP range of a subnet: given ones checked (host addresses inside it, the range
 * ordered and not holding the gateway), missing ones defaulted (the first host is the gateway; DHCP
 * from the address after it to the last host).
 */
export function planAddresses(subnet: Subnet, given: Partial<AddressPlan>): AddressPlan | AddressProblem {
  for (const field of ['gateway', 'dhcpStart', 'dhcpEnd'] as const) {
    const value = given[field];
    if (value === undefined) continue;
    if (!isIpv4(value)) return { field, message: `${field} must be an IPv4 address like 10.77.0.1` };
    const n = toNumber(value);
    if (n <= subnet.network || n >= subnet.broadcast)
      return { field, message: `${field} must be a host address inside ${subnet.cidr}` };
  }
  const gateway = given.gateway !== undefined ? toNumber(given.gateway) : subnet.network + 1;
  const [defaultStart, defaultEnd] =
    gateway < subnet.broadcast - 1 ? [gateway + 1, subnet.broadcast - 1] : [subnet.network + 1, gateway - 1];
  const start = given.dhcpStart !== undefined ? toNumber(given.dhcpStart) : defaultStart;
  const end = given.dhcpEnd !== undefined ? toNumber(given.dhcpEnd) : defaultEnd;
  if (start > end) return { field: 'dhcpEnd', message: 'dhcpEnd must not come before dhcpStart' };
  if (gateway >= start && gateway <= end)
    return { field: 'gateway', message: 'the DHCP range must not hold the gateway' };
  return { gateway: toAddress(gateway), dhcpStart: toAddress(start), dhcpEnd: toAddress(end) };
}

/** A user-given MAC, lower-cased, or why it is refused: it must be `xx:xx:xx:xx:xx:xx` and unicast, not all zeros. */
export function normalizeMac(mac: string): { mac: string } | { problem: string } {
  if (!MAC_ADDRESS.test(mac)) return { problem: 'mac must be six hex octets like 52:54:00:12:34:56' };
  const lower = mac.toLowerCase();
  if (parseInt(lower.slice(0, 2), 16) & 1) return { problem: 'mac must be a unicast address (first octet even)' };
  if (lower === '00:00:00:00:00:00') return { problem: 'mac must not be all zeros' };
  return { mac: lower };
}

/** A random locally administered unicast MAC: the first octet's low two bits are 1 0. */
export function randomMac(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0] & 0xfc) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** libvirt network name and bridge of a nat or isolated network: derived from its id, never from user text. */
export function libvirtNamesFor(networkId: string): { name: string; bridge: string } {
  const hex = networkId.replace(/-/g, '').slice(0, 8).toLowerCase();
  return { name: `limen-net-${hex}`, bridge: `lnbr-${hex}` };
}
