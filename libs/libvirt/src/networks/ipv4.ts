import { HypervisorError } from '../errors/hypervisor-error';

/** A dotted-quad IPv4 address, no leading zeros (they read as octal in some tools). */
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export interface Ipv4Cidr {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export function isIpv4(value: unknown): value is string {
  return typeof value === 'string' && IPV4.test(value);
}

export function ipv4ToNumber(ip: string): number {
  if (!isIpv4(ip)) throw new HypervisorError('INVALID_ARGUMENT', `not an IPv4 address: ${JSON.stringify(ip)}`);
  return ip.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0);
}

export function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `10.77.0.0/24`; the address must be the network address (no host bits). */
export function parseCidr(cidr: string): Ipv4Cidr {
  const match = typeof cidr === 'string' ? /^([0-9.]+)\/(\d{1,2})$/.exec(cidr) : null;
  const prefix = match ? Number(match[2]) : NaN;
  if (!match || !isIpv4(match[1]) || !(prefix >= 0 && prefix <= 32))
    throw new HypervisorError('INVALID_ARGUMENT', `not an IPv4 CIDR: ${JSON.stringify(cidr)}`);
  const base = ipv4ToNumber(match[1]);
  if ((base & ~maskOf(prefix)) >>> 0 !== 0)
    throw new HypervisorError('INVALID_ARGUMENT', `${cidr} has host bits set (the network address is expected)`);
  return { base, prefix };
}

/** A host route's CIDR may have host bits (`ip route` shows networks, `ip addr` shows addresses): normalised. */
export function normaliseCidr(address: string, prefix: number): string {
  const masked = (ipv4ToNumber(address) & maskOf(prefix)) >>> 0;
  return `${numberToIpv4(masked)}/${prefix}`;
}

export function netmaskOf(prefix: number): string {
  return numberToIpv4(maskOf(prefix));
}

export function prefixOfNetmask(netmask: string): number {
  const mask = ipv4ToNumber(netmask);
  const prefix = mask.toString(2).replace(/0+$/, '').length;
  if (maskOf(prefix) !== mask) throw new HypervisorError('INVALID_ARGUMENT', `not a netmask: ${netmask}`);
  return prefix;
}

export function cidrContains(cidr: Ipv4Cidr, ip: string): boolean {
  return (ipv4ToNumber(ip) & maskOf(cidr.prefix)) >>> 0 === cidr.base;
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  return (a.base & maskOf(prefix)) >>> 0 === (b.base & maskOf(prefix)) >>> 0;
}
