import { HypervisorError } from '../errors/hypervisor-error';
import { DhcpLease, NetworkDefinition, NetworkInfo } from '../models';
import { assertNetworkName } from '../naming/network-name';
import { cidrsOverlap, ipv4ToNumber, numberToIpv4, parseCidr } from '../networks/ipv4';
import { validateNetworkDefinition } from '../networks/network-validation';

function conflict(message: string): HypervisorError {
  return new HypervisorError('NETWORK_CONFLICT', message);
}

function sameDefinition(a: NetworkDefinition, b: NetworkDefinition): boolean {
  const keys: Array<keyof NetworkDefinition> = ['name', 'kind', 'bridge', 'cidr', 'gateway', 'dhcpStart', 'dhcpEnd'];
  return keys.every((key) => a[key] === b[key]);
}

/**
 * The fake host's libvirt networks, its routes and bridges, and the DHCP server of each network:
 * a NIC on a network gets the next free address of the DHCP range while its domain runs (unless
 * the test set the leases itself with `setLeases`).
 */
export class FakeNetworks {
  /** Subnets the host reaches outside LIMEN's networks (listHostRoutes; ensureNetwork refuses overlaps). */
  hostRoutes: string[] = [];
  /** Host bridges that exist (hasBridge), besides the bridges of LIMEN's networks. */
  readonly bridges = new Set<string>();
  private readonly networks = new Map<string, NetworkInfo>();
  private readonly fixedLeases = new Map<string, DhcpLease[]>();
  private readonly assigned = new Map<string, Map<string, string>>();

  ensure(definition: NetworkDefinition): NetworkInfo {
    validateNetworkDefinition(definition);
    const existing = this.networks.get(definition.name);
    if (existing) {
      if (!sameDefinition(existing, definition))
        throw conflict(`network ${definition.name} exists with another definition`);
      return { ...existing };
    }
    const cidr = parseCidr(definition.cidr);
    for (const other of this.networks.values()) {
      if (other.bridge === definition.bridge) throw conflict(`bridge ${definition.bridge} is used by ${other.name}`);
      if (cidrsOverlap(cidr, parseCidr(other.cidr)))
        throw conflict(`${definition.cidr} overlaps ${other.cidr} of network ${other.name}`);
    }
    if (this.bridges.has(definition.bridge)) throw conflict(`a host bridge ${definition.bridge} exists`);
    const route = this.hostRoutes.find((route) => cidrsOverlap(cidr, parseCidr(route)));
    if (route) throw conflict(`Network is already in use by interface (host route ${route})`);
    const network: NetworkInfo = { ...structuredClone(definition), active: true };
    this.networks.set(definition.name, network);
    return { ...network };
  }

  remove(name: string): void {
    assertNetworkName(name);
    this.networks.delete(name);
    this.assigned.delete(name);
  }

  has(name: string): boolean {
    return this.networks.has(name);
  }

  list(): NetworkInfo[] {
    return [...this.networks.values()].map((network) => ({ ...network }));
  }

  hasBridge(name: string): boolean {
    return this.bridges.has(name) || [...this.networks.values()].some((network) => network.bridge === name);
  }

  setLeases(network: string, leases: DhcpLease[] | undefined): void {
    if (leases) this.fixedLeases.set(network, structuredClone(leases));
    else this.fixedLeases.delete(network);
  }

  /** The leases of `network` for the running NICs on it (`macs`), with their hostnames. */
  leases(name: string, macs: Array<{ mac: string; hostname?: string }>): DhcpLease[] {
    assertNetworkName(name);
    const fixed = this.fixedLeases.get(name);
    if (fixed) return structuredClone(fixed);
    const network = this.networks.get(name);
    if (!network) return [];
    const prefix = parseCidr(network.cidr).prefix;
    const expiresAt = new Date(Date.now() + 3600_000);
    return macs.flatMap(({ mac, hostname }) => {
      const ip = this.assign(network, mac);
      return ip ? [{ mac, ip, prefix, ...(hostname ? { hostname } : {}), expiresAt }] : [];
    });
  }

  private assign(network: NetworkInfo, mac: string): string | undefined {
    const byMac = this.assigned.get(network.name) ?? new Map<string, string>();
    this.assigned.set(network.name, byMac);
    const known = byMac.get(mac);
    if (known) return known;
    const used = new Set(byMac.values());
    for (let ip = ipv4ToNumber(network.dhcpStart); ip <= ipv4ToNumber(network.dhcpEnd); ip++) {
      const address = numberToIpv4(ip);
      if (used.has(address)) continue;
      byMac.set(mac, address);
      return address;
    }
    return undefined; // the range is exhausted: no lease
  }
}
