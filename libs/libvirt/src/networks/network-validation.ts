import { HypervisorError } from '../errors/hypervisor-error';
import { DomainSpec, NetworkDefinition, NicModel, NicSpec, PortForwardSpec } from '../models';
import { assertMac, macAddressFor } from '../naming/domain-name';
import { assertHostBridgeName, assertLimenBridgeName, assertNetworkName, assertNicId } from '../naming/network-name';
import { cidrContains, ipv4ToNumber, isIpv4, parseCidr } from './ipv4';

export const MAX_NICS = 8;
export const NIC_MODELS: readonly NicModel[] = ['virtio', 'e1000e', 'rtl8139'];
/** A libvirt network a NIC attaches to: LIMEN's own (`limen-net-…`) or, for older setups, one an admin named. */
const ATTACHED_NETWORK = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function invalid(message: string): never {
  throw new HypervisorError('INVALID_ARGUMENT', message);
}

/** Names, addresses, and that the gateway and the DHCP range lie inside the subnet. */
export function validateNetworkDefinition(definition: NetworkDefinition): void {
  assertNetworkName(definition.name);
  assertLimenBridgeName(definition.bridge);
  if (definition.kind !== 'nat' && definition.kind !== 'isolated') invalid('kind must be nat or isolated');
  const cidr = parseCidr(definition.cidr);
  if (cidr.prefix > 30 || cidr.prefix < 8) invalid(`${definition.cidr}: the prefix must be between /8 and /30`);
  const first = cidr.base + 1;
  const last = cidr.base + 2 ** (32 - cidr.prefix) - 2;
  for (const [label, ip] of [
    ['gateway', definition.gateway],
    ['dhcpStart', definition.dhcpStart],
    ['dhcpEnd', definition.dhcpEnd],
  ] as const) {
    if (!isIpv4(ip)) invalid(`${label} must be an IPv4 address`);
    const value = ipv4ToNumber(ip);
    if (!cidrContains(cidr, ip) || value < first || value > last)
      invalid(`${label} ${ip} is not a host address of ${definition.cidr}`);
  }
  const start = ipv4ToNumber(definition.dhcpStart);
  const end = ipv4ToNumber(definition.dhcpEnd);
  const gateway = ipv4ToNumber(definition.gateway);
  if (start > end) invalid('dhcpStart must not be after dhcpEnd');
  if (gateway >= start && gateway <= end) invalid('the gateway must lie outside the DHCP range');
}

export function validatePortForward(forward: PortForwardSpec): void {
  if (!forward || (forward.protocol !== 'tcp' && forward.protocol !== 'udp')) invalid('protocol must be tcp or udp');
  // An IP literal only: it goes into QEMU's hostfwd option, where a name or a comma would be parsed.
  if (!isIpv4(forward.hostAddress)) invalid('hostAddress must be an IPv4 address');
  for (const [label, port] of [
    ['hostPort', forward.hostPort],
    ['guestPort', forward.guestPort],
  ] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) invalid(`${label} must be an integer between 1 and 65535`);
  }
}

export function validateNic(nic: NicSpec): void {
  if (!nic || typeof nic !== 'object') invalid('a NIC must be an object');
  assertNicId(nic.id);
  assertMac(nic.mac);
  if (nic.model !== undefined && !NIC_MODELS.includes(nic.model))
    invalid(`model must be one of ${NIC_MODELS.join(', ')}`);
  const attachment = nic.attachment;
  switch (attachment?.type) {
    case 'network':
      if (typeof attachment.network !== 'string' || !ATTACHED_NETWORK.test(attachment.network))
        invalid(`invalid network name ${JSON.stringify(attachment.network)}`);
      return;
    case 'bridge':
      assertHostBridgeName(attachment.bridge);
      if (
        attachment.vlan !== undefined &&
        !(Number.isInteger(attachment.vlan) && attachment.vlan >= 1 && attachment.vlan <= 4094)
      )
        invalid('vlan must be an integer between 1 and 4094');
      return;
    case 'user':
      validateForwards(attachment.portForwards ?? []);
      return;
    default:
      invalid('attachment.type must be network, bridge or user');
  }
}

function validateForwards(forwards: PortForwardSpec[]): void {
  if (!Array.isArray(forwards)) invalid('portForwards must be a list');
  const seen = new Set<string>();
  for (const forward of forwards) {
    validatePortForward(forward);
    const key = `${forward.protocol}:${forward.hostAddress}:${forward.hostPort}`;
    if (seen.has(key)) invalid(`host port ${forward.protocol}/${forward.hostPort} is forwarded twice`);
    seen.add(key);
  }
}

/** At most 8 NICs, each valid, ids and MACs unique. */
export function validateNics(nics: NicSpec[] | undefined): void {
  if (nics === undefined) return;
  if (!Array.isArray(nics)) invalid('nics must be a list');
  if (nics.length > MAX_NICS) invalid(`at most ${MAX_NICS} NICs`);
  nics.forEach(validateNic);
  const ids = new Set(nics.map((nic) => nic.id));
  if (ids.size !== nics.length) invalid('NIC ids must be unique');
  const macs = new Set(nics.map((nic) => nic.mac.toLowerCase()));
  if (macs.size !== nics.length) invalid('NIC MACs must be unique');
}

/** The NICs a spec stands for: undefined means one virtio user-mode NIC named after the VM. MACs lower-case. */
export function nicsOf(spec: Pick<DomainSpec, 'vmId' | 'nics'>): NicSpec[] {
  const nics = spec.nics ?? [{ id: spec.vmId, mac: macAddressFor(spec.vmId), attachment: { type: 'user' } }];
  return nics.map((nic) => ({ ...nic, mac: nic.mac.toLowerCase(), model: nic.model ?? 'virtio' }));
}
