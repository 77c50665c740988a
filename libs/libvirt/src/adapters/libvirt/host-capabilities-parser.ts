import { HostCapabilities, VirtType } from '../../models';
import { attrOf, childOf, childrenOf, parseXml, textOf } from '../../xml/xml-codec';

export interface HostCapabilitiesSources {
  /** `virsh version` */
  version: string;
  /** `virsh nodeinfo` */
  nodeinfo: string;
  /** `virsh capabilities` XML */
  capabilities: string;
  virtTypes: VirtType[];
  defaultVirtType: VirtType;
  hostname: string;
}

function field(text: string, label: string): string | undefined {
  const line = text.split('\n').find((l) => l.startsWith(label));
  return line?.slice(label.length).trim();
}

function machines(capabilitiesXml: string): string[] {
  const guests = childrenOf(childOf(parseXml(capabilitiesXml), 'capabilities'), 'guest');
  const x86 = guests.find(
    (guest) => attrOf(childOf(guest, 'arch'), 'name') === 'x86_64' && textOf(childOf(guest, 'os_type')) === 'hvm',
  );
  const names = childrenOf(childOf(x86, 'arch'), 'machine')
    .map((machine) => textOf(machine))
    .filter((name): name is string => !!name);
  return [...new Set(names)].sort();
}

export function parseHostCapabilities(sources: HostCapabilitiesSources): HostCapabilities {
  const memoryKiB = Number((field(sources.nodeinfo, 'Memory size:') ?? '0').split(/\s+/)[0]);
  const libvirtVersion = field(sources.version, 'Using library:')?.replace(/^libvirt\s+/, '');
  return {
    adapter: 'libvirt',
    hostname: sources.hostname,
    cpus: Number(field(sources.nodeinfo, 'CPU(s):') ?? '0'),
    memoryMiB: Math.floor(memoryKiB / 1024),
    virtTypes: sources.virtTypes,
    defaultVirtType: sources.defaultVirtType,
    qemuVersion: field(sources.version, 'Running hypervisor:')?.replace(/^QEMU\s+/, '') ?? 'unknown',
    ...(libvirtVersion ? { libvirtVersion } : {}),
    machines: machines(sources.capabilities),
  };
}
