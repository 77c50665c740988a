import { HypervisorError } from '../errors/hypervisor-error';
import { ManagedNetworkKind, NetworkDefinition } from '../models';
import { netmaskOf, normaliseCidr, parseCidr, prefixOfNetmask } from '../networks/ipv4';
import { validateNetworkDefinition } from '../networks/network-validation';
import { ATTR, attrOf, buildXml, childOf, childrenOf, parseXml, textOf, XmlNode } from './xml-codec';

const a = (name: string): string => ATTR + name;

/**
 * libvirt network XML of a LIMEN network: its own bridge, one IPv4 subnet with the host's
 * address (the gateway) and a DHCP range. `nat` forwards through the host with masquerading;
 * `isolated` has no <forward>: guests reach each other and the host's bridge address only.
 * Every value goes through the XML library, after validation.
 */
export function buildNetworkXml(definition: NetworkDefinition): string {
  validateNetworkDefinition(definition);
  const { prefix } = parseCidr(definition.cidr);
  const network: XmlNode = {
    name: definition.name,
    ...(definition.kind === 'nat' ? { forward: { [a('mode')]: 'nat' } } : {}),
    bridge: { [a('name')]: definition.bridge, [a('stp')]: 'on', [a('delay')]: '0' },
    ip: [
      {
        [a('address')]: definition.gateway,
        [a('netmask')]: netmaskOf(prefix),
        dhcp: { range: [{ [a('start')]: definition.dhcpStart, [a('end')]: definition.dhcpEnd }] },
      },
    ],
  };
  return buildXml({ network });
}

/** What `net-dumpxml` says of a network, as a LIMEN definition (undefined fields for what it lacks). */
export interface ParsedNetwork {
  name: string;
  /** `nat`, `isolated` (no forward), or the other forward mode libvirt reports (route, open, bridge...). */
  kind: ManagedNetworkKind | string;
  bridge?: string;
  cidr?: string;
  gateway?: string;
  dhcpStart?: string;
  dhcpEnd?: string;
}

export function parseNetworkXml(xml: string): ParsedNetwork {
  const network = childOf(parseXml(xml), 'network');
  if (!network) throw new HypervisorError('OPERATION_FAILED', 'not a libvirt network XML document');
  const forward = attrOf(childOf(network, 'forward'), 'mode');
  const ip = childrenOf(network, 'ip').find((node) => (attrOf(node, 'family') ?? 'ipv4') === 'ipv4');
  const gateway = attrOf(ip, 'address');
  const prefixText = attrOf(ip, 'prefix');
  const netmask = attrOf(ip, 'netmask');
  const prefix = prefixText !== undefined ? Number(prefixText) : netmask ? prefixOfNetmask(netmask) : undefined;
  const range = childrenOf(childOf(ip, 'dhcp'), 'range')[0];
  const bridge = attrOf(childOf(network, 'bridge'), 'name');
  return {
    name: textOf(childOf(network, 'name')) ?? '',
    kind: forward === undefined ? 'isolated' : forward,
    ...(bridge ? { bridge } : {}),
    ...(gateway && prefix !== undefined ? { cidr: normaliseCidr(gateway, prefix), gateway } : {}),
    ...(attrOf(range, 'start') ? { dhcpStart: attrOf(range, 'start') } : {}),
    ...(attrOf(range, 'end') ? { dhcpEnd: attrOf(range, 'end') } : {}),
  };
}

/** The parsed network as a LIMEN definition, when it is one LIMEN could have made. */
export function asNetworkDefinition(parsed: ParsedNetwork): NetworkDefinition | undefined {
  const { name, kind, bridge, cidr, gateway, dhcpStart, dhcpEnd } = parsed;
  if ((kind !== 'nat' && kind !== 'isolated') || !bridge || !cidr || !gateway || !dhcpStart || !dhcpEnd)
    return undefined;
  return { name, kind, bridge, cidr, gateway, dhcpStart, dhcpEnd };
}
