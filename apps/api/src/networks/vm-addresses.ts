import type { DhcpLease, InterfaceAddress } from '@limen/libvirt';
import type { VmAddress } from '../vms/vm.entity';
import type { NetworkKind } from './network.entity';

/** A NIC as the address merge needs it: its id and MAC, and its network's kind and libvirt name. */
export interface NicForAddresses {
  id: string;
  mac: string;
  kind: NetworkKind;
  /** `limen-net-…` for nat and isolated networks, whose DHCP leases libvirt keeps. */
  libvirtName: string | null;
}

/** What the sources said for one VM; null where a source was not asked (or could not answer). */
export interface AddressSources {
  /** Leases of the VM's nat and isolated networks, by libvirt network name. */
  leases: Map<string, DhcpLease[]>;
  /** The guest agent's view (guest-network-get-interfaces), when it is connected. */
  agent: InterfaceAddress[] | null;
  /** The host's ARP table, for bridge NICs when the agent cannot say. */
  arp: InterfaceAddress[] | null;
}

const SOURCE_ORDER: Record<VmAddress['source'], number> = { lease: 0, agent: 1, arp: 2, 'user-mode': 3 };

function familyOf(ip: string): VmAddress['family'] {
  return ip.includes(':') ? 'ipv6' : 'ipv4';
}

/** Loopback, link-local and unspecified addresses say nothing about how to reach the guest. */
export function isReachableKind(ip: string): boolean {
  const lower = ip.toLowerCase();
  if (/^127\./.test(lower) || /^169\.254\./.test(lower) || lower === '0.0.0.0') return false;
  return !(lower === '::1' || lower === '::' || /^fe[89ab][0-9a-f]:/.test(lower));
}

/**
 * The VM's addresses from what its sources reported, mapped to its NICs by MAC (an address on a
 * MAC that is none of its NICs, the guest's `lo` among them, is left out):
 * - nat and isolated NICs: their network's DHCP lease (`lease`), and what the agent adds (IPv6, static);
 * - user-mode NICs: what the agent reports (they have no lease; QEMU's DHCP is inside QEMU);
 * - bridge NICs: what the agent reports, else what the host's ARP table has for the MAC (`arp`).
 * One entry per NIC and IP (a lease and the agent agreeing count once, as the lease), ordered by NIC,
 * then source, then address, so the same state always gives the same list.
 */
export function mergeAddresses(nics: NicForAddresses[], sources: AddressSources): VmAddress[] {
  const result: VmAddress[] = [];
  const seen = new Set<string>();
  const add = (nic: NicForAddresses, ip: string, prefix: number, source: VmAddress['source']) => {
    const key = `${nic.id}|${ip.toLowerCase()}`;
    if (seen.has(key) || !isReachableKind(ip)) return;
    seen.add(key);
    result.push({ nicId: nic.id, mac: nic.mac, ip, prefix, family: familyOf(ip), source });
  };
  for (const nic of nics) {
    const mac = nic.mac.toLowerCase();
    const ofNic = <T extends { mac: string }>(list: T[] | null | undefined): T[] =>
      (list ?? []).filter((entry) => entry.mac.toLowerCase() === mac);
    if (nic.libvirtName) {
      for (const lease of ofNic(sources.leases.get(nic.libvirtName))) add(nic, lease.ip, lease.prefix, 'lease');
    }
    const agent = ofNic(sources.agent);
    for (const address of agent) add(nic, address.ip, address.prefix, 'agent');
    if (nic.kind === 'bridge' && !agent.length) {
      for (const address of ofNic(sources.arp)) add(nic, address.ip, address.prefix, 'arp');
    }
  }
  const position = new Map(nics.map((nic, index) => [nic.id, index]));
  return result.sort(
    (a, b) =>
      position.get(a.nicId)! - position.get(b.nicId)! ||
      SOURCE_ORDER[a.source] - SOURCE_ORDER[b.source] ||
      a.family.localeCompare(b.family) ||
      a.ip.localeCompare(b.ip),
  );
}

/** Whether two address lists are the same, in the same order (jsonb hands keys back in an order of its own). */
export function sameAddresses(a: readonly VmAddress[], b: readonly VmAddress[]): boolean {
  const line = (x: VmAddress) => [x.nicId, x.mac, x.ip, x.prefix, x.family, x.source].join('|');
  return a.length === b.length && a.every((x, i) => line(x) === line(b[i]));
}
