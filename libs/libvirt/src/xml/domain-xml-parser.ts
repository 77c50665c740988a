import { HypervisorError } from '../errors/hypervisor-error';
import { BootDevice, DomainDiskInfo, DomainNicInfo, GuestAgentState, VirtType } from '../models';
import { LIMEN_XMLNS, LimenMetadata } from './limen-metadata';
import { diskIdFromAlias } from '../naming/disk-name';
import { parseInterfaces, parseUserNics, userNicBootIndexes } from './nic-xml';
import { GUEST_AGENT_CHANNEL } from './qemu-namespace';
import { CDROM_TARGET, SEED_TARGET } from './spec-validation';
import { ATTR, attrOf, childOf, childrenOf, parseXml, textOf, XmlNode } from './xml-codec';

/** What libvirt's domain XML says about a domain (everything except its runtime state). */
export interface ParsedDomain {
  name: string;
  uuid: string;
  metadata?: LimenMetadata;
  title?: string;
  description?: string;
  virtType: VirtType;
  machine?: string;
  vcpus: number;
  maxVcpus: number;
  memoryMiB: number;
  maxMemoryMiB: number;
  disks: DomainDiskInfo[];
  mac?: string;
  /** libvirt's `<interface>`s first, then the user-mode NICs of the QEMU command line. */
  nics: DomainNicInfo[];
  guestAgent: GuestAgentState;
  serialLogPath?: string;
  /** Host pty of the first serial port (live XML of a running domain only). */
  serialPtyPath?: string;
  vncEnabled: boolean;
  /** The VNC server's unix socket (live XML of a running domain only: libvirt generates the path). */
  vncSocketPath?: string;
  kernelPath?: string;
  /** Firmware boot order; undefined with direct kernel boot. */
  bootOrder?: BootDevice[];
}

const UNIT_BYTES: Record<string, number> = {
  b: 1,
  bytes: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
};

function toMiB(node: XmlNode | undefined): number {
  const value = Number(textOf(node) ?? '0');
  // libvirt's default unit for <memory> is KiB.
  const unit = (attrOf(node, 'unit') ?? 'KiB').toLowerCase();
  return Math.round((value * (UNIT_BYTES[unit] ?? 1024)) / 1024 ** 2);
}

/** Finds our metadata element whatever prefix libvirt kept for the namespace. */
function parseMetadata(domain: XmlNode): LimenMetadata | undefined {
  const metadata = childOf(domain, 'metadata');
  if (!metadata) return undefined;
  for (const [key, value] of Object.entries(metadata)) {
    if (key.startsWith(ATTR) || key === '#text' || !value || typeof value !== 'object') continue;
    const element = (Array.isArray(value) ? value[0] : value) as XmlNode;
    const prefixAttr = Object.keys(element).find((k) => k.startsWith(`${ATTR}xmlns:`) && element[k] === LIMEN_XMLNS);
    if (!prefixAttr) continue;
    const prefix = prefixAttr.slice(`${ATTR}xmlns:`.length);
    const vmId = textOf(element[`${prefix}:vmId`]);
    const ownerId = textOf(element[`${prefix}:ownerId`]);
    if (!vmId || !ownerId) return undefined;
    const seedIsoPath = textOf(element[`${prefix}:seedIso`]);
    return { vmId, ownerId, ...(seedIsoPath ? { seedIsoPath } : {}) };
  }
  return undefined;
}

function parseDisk(disk: XmlNode, seedIsoPath: string | undefined): DomainDiskInfo {
  const target = attrOf(childOf(disk, 'target'), 'dev') ?? '';
  const device = attrOf(disk, 'device') === 'cdrom' ? 'cdrom' : 'disk';
  const path = attrOf(childOf(disk, 'source'), 'file');
  const isSeed =
    device === 'cdrom' &&
    (target === SEED_TARGET || (!!seedIsoPath && path === seedIsoPath && target !== CDROM_TARGET));
  const id = diskIdFromAlias(attrOf(childOf(disk, 'alias'), 'name'));
  const bus = attrOf(childOf(disk, 'target'), 'bus');
  const serial = textOf(childOf(disk, 'serial'));
  return {
    target,
    device,
    ...(path ? { path } : {}),
    ...(attrOf(childOf(disk, 'driver'), 'type') ? { format: attrOf(childOf(disk, 'driver'), 'type') } : {}),
    readonly: childOf(disk, 'readonly') !== undefined,
    seed: isSeed,
    ...(id ? { id } : {}),
    ...(device === 'disk' && (bus === 'virtio' || bus === 'scsi') ? { bus } : {}),
    ...(serial ? { serial } : {}),
  };
}

const BOOT_DEVICES: Record<string, BootDevice> = { hd: 'hd', cdrom: 'cdrom', network: 'network' };

/**
 * The firmware boot order: `<os><boot dev=.../>`, else per-device `<boot order='N'/>` elements
 * (LIMEN writes those when a disk has a bootIndex, see BootPlan) and the `bootindex` of a
 * user-mode NIC. Undefined with direct kernel boot.
 */
function parseBootOrder(domain: XmlNode, os: XmlNode | undefined, devices: XmlNode): BootDevice[] | undefined {
  if (textOf(childOf(os, 'kernel'))) return undefined;
  const global = childrenOf(os, 'boot')
    .map((boot) => BOOT_DEVICES[attrOf(boot, 'dev') ?? ''])
    .filter((dev): dev is BootDevice => dev !== undefined);
  if (global.length > 0) return global;
  const perDevice: Array<[number, BootDevice]> = [];
  for (const disk of childrenOf(devices, 'disk')) {
    const order = Number(attrOf(childOf(disk, 'boot'), 'order'));
    if (order > 0) perDevice.push([order, attrOf(disk, 'device') === 'cdrom' ? 'cdrom' : 'hd']);
  }
  for (const nic of childrenOf(devices, 'interface')) {
    const order = Number(attrOf(childOf(nic, 'boot'), 'order'));
    if (order > 0) perDevice.push([order, 'network']);
  }
  for (const order of userNicBootIndexes(domain)) perDevice.push([order, 'network']);
  const ordered = perDevice.sort(([a], [b]) => a - b).map(([, dev]) => dev);
  const unique = ordered.filter((dev, index) => ordered.indexOf(dev) === index);
  return unique.length > 0 ? unique : undefined;
}

/** The agent channel's state: libvirt writes `state='connected'` on its target in the live XML. */
function parseGuestAgent(devices: XmlNode): GuestAgentState {
  const channel = childrenOf(devices, 'channel').find(
    (node) => attrOf(childOf(node, 'target'), 'name') === GUEST_AGENT_CHANNEL,
  );
  if (!channel) return 'absent';
  return attrOf(childOf(channel, 'target'), 'state') === 'connected' ? 'connected' : 'disconnected';
}

export function parseDomainXml(xml: string): ParsedDomain {
  const domain = childOf(parseXml(xml), 'domain');
  if (!domain) throw new HypervisorError('OPERATION_FAILED', 'not a libvirt domain XML document');
  const metadata = parseMetadata(domain);
  const vcpu = childOf(domain, 'vcpu');
  const maxVcpus = Number(textOf(vcpu) ?? '1');
  const devices = childOf(domain, 'devices') ?? {};
  const serial = childrenOf(devices, 'serial')[0];
  const vnc = childrenOf(devices, 'graphics').find((g) => attrOf(g, 'type') === 'vnc');
  const vncSocketPath = attrOf(
    childrenOf(vnc, 'listen').find((listen) => attrOf(listen, 'type') === 'socket'),
    'socket',
  );
  const os = childOf(domain, 'os');
  const title = textOf(childOf(domain, 'title'));
  const description = textOf(childOf(domain, 'description'));
  const nics = [...parseInterfaces(devices), ...parseUserNics(domain)];
  const mac = nics[0]?.mac;
  const serialLogPath = attrOf(childOf(serial, 'log'), 'file');
  const serialPtyPath = attrOf(serial, 'type') === 'pty' ? attrOf(childOf(serial, 'source'), 'path') : undefined;
  const kernelPath = textOf(childOf(os, 'kernel'));
  const bootOrder = parseBootOrder(domain, os, devices);

  return {
    name: textOf(childOf(domain, 'name')) ?? '',
    uuid: textOf(childOf(domain, 'uuid')) ?? '',
    ...(metadata ? { metadata } : {}),
    ...(title !== undefined ? { title } : {}),
    ...(description !== undefined ? { description } : {}),
    virtType: attrOf(domain, 'type') === 'kvm' ? 'kvm' : 'qemu',
    machine: attrOf(childOf(os, 'type'), 'machine'),
    vcpus: Number(attrOf(vcpu, 'current') ?? maxVcpus),
    maxVcpus,
    memoryMiB: toMiB(childOf(domain, 'currentMemory') ?? childOf(domain, 'memory')),
    maxMemoryMiB: toMiB(childOf(domain, 'memory')),
    disks: childrenOf(devices, 'disk').map((disk) => parseDisk(disk, metadata?.seedIsoPath)),
    ...(mac ? { mac } : {}),
    nics,
    guestAgent: parseGuestAgent(devices),
    ...(serialLogPath ? { serialLogPath } : {}),
    ...(serialPtyPath ? { serialPtyPath } : {}),
    vncEnabled: vnc !== undefined,
    ...(vncSocketPath ? { vncSocketPath } : {}),
    ...(kernelPath ? { kernelPath } : {}),
    ...(bootOrder ? { bootOrder } : {}),
  };
}

/** Normalises machine names such as `pc-q35-7.2` to the family LIMEN specs use. */
export function machineFamily(machine: string | undefined): string | undefined {
  if (!machine) return undefined;
  if (machine === 'q35' || machine.includes('q35')) return 'q35';
  if (machine === 'pc' || machine.startsWith('pc-i440fx') || machine.startsWith('pc-')) return 'pc';
  return machine;
}
