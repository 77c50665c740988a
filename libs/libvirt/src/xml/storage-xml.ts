import { HypervisorError } from '../errors/hypervisor-error';
import { StoragePoolDefinition, VolumeFormat } from '../models';
import { ATTR, attrOf, buildXml, childOf, parseXml, textOf, XmlNode } from './xml-codec';

const a = (name: string): string => ATTR + name;

/** Pool folders: QEMU (another user) must traverse to its files, but nobody may list them. */
export const POOL_FOLDER_MODE = '0711';
/** Volumes: owner (root) only; libvirt hands a disk to QEMU's user when a domain using it starts. */
export const VOLUME_MODE = '0600';

/** `pool-define` XML of a LIMEN dir pool. Values go through the XML codec only. */
export function buildPoolXml(definition: StoragePoolDefinition): string {
  const pool: XmlNode = {
    [a('type')]: definition.type,
    name: definition.name,
    target: { path: definition.path, permissions: { mode: POOL_FOLDER_MODE } },
  };
  return buildXml({ pool });
}

export interface VolumeXmlSpec {
  name: string;
  format: VolumeFormat;
  /** Omitted with a backing volume: libvirt then takes the backing volume's size. */
  capacityBytes?: number;
  backing?: { path: string; format: VolumeFormat };
}

/**
 * `vol-create` XML. No allocation: files are sparse. qcow2 volumes are compat 1.1 (libvirt's
 * default is 0.10, which lacks zero clusters and lazy refcounts). The backing format is written
 * into the overlay, so QEMU never probes the backing file's content.
 */
export function buildVolumeXml(spec: VolumeXmlSpec): string {
  const volume: XmlNode = {
    [a('type')]: 'file',
    name: spec.name,
    ...(spec.capacityBytes !== undefined
      ? { capacity: { [a('unit')]: 'bytes', '#text': String(spec.capacityBytes) } }
      : {}),
    allocation: { [a('unit')]: 'bytes', '#text': '0' },
    target: {
      format: { [a('type')]: spec.format },
      ...(spec.format === 'qcow2' ? { compat: '1.1' } : {}),
      permissions: { mode: VOLUME_MODE },
    },
    ...(spec.backing
      ? { backingStore: { path: spec.backing.path, format: { [a('type')]: spec.backing.format } } }
      : {}),
  };
  return buildXml({ volume });
}

/** What `pool-dumpxml` says of a pool. Sizes are 0 for an inactive pool. */
export interface ParsedPool {
  name: string;
  type: string;
  path: string;
  capacityBytes: number;
  allocationBytes: number;
  availableBytes: number;
}

export function parsePoolXml(xml: string): ParsedPool {
  const pool = childOf(parseXml(xml), 'pool');
  if (!pool) throw new HypervisorError('OPERATION_FAILED', 'not a libvirt storage pool XML document');
  return {
    name: textOf(childOf(pool, 'name')) ?? '',
    type: attrOf(pool, 'type') ?? '',
    path: textOf(childOf(childOf(pool, 'target'), 'path'))?.trim() ?? '',
    capacityBytes: bytesOf(childOf(pool, 'capacity')) ?? 0,
    allocationBytes: bytesOf(childOf(pool, 'allocation')) ?? 0,
    availableBytes: bytesOf(childOf(pool, 'available')) ?? 0,
  };
}

/** What `vol-dumpxml` says of a volume; libvirt probes the format of a file it did not create. */
export interface ParsedVolume {
  name: string;
  path: string;
  format: string;
  /** Virtual size (qcow2), or the file size (raw). */
  capacityBytes: number;
  /** Bytes the file occupies on the host's filesystem. */
  allocationBytes: number;
  /** The file's size, when libvirt reports it. */
  physicalBytes?: number;
  backing?: { path: string; format?: string };
}

export function parseVolumeXml(xml: string): ParsedVolume {
  const volume = childOf(parseXml(xml), 'volume');
  if (!volume) throw new HypervisorError('OPERATION_FAILED', 'not a libvirt storage volume XML document');
  const target = childOf(volume, 'target');
  const backingStore = childOf(volume, 'backingStore');
  const backingPath = textOf(childOf(backingStore, 'path'))?.trim();
  const backingFormat = attrOf(childOf(backingStore, 'format'), 'type');
  const physical = bytesOf(childOf(volume, 'physical'));
  return {
    name: textOf(childOf(volume, 'name')) ?? '',
    path: textOf(childOf(target, 'path'))?.trim() ?? '',
    format: attrOf(childOf(target, 'format'), 'type') ?? 'raw',
    capacityBytes: bytesOf(childOf(volume, 'capacity')) ?? 0,
    allocationBytes: bytesOf(childOf(volume, 'allocation')) ?? 0,
    ...(physical !== undefined ? { physicalBytes: physical } : {}),
    ...(backingPath ? { backing: { path: backingPath, ...(backingFormat ? { format: backingFormat } : {}) } } : {}),
  };
}

/** A `<capacity unit='bytes'>` size: libvirt's dumpxml always writes bytes. */
function bytesOf(node: XmlNode | undefined): number | undefined {
  const text = textOf(node)?.trim();
  if (!text || !/^\d+$/.test(text) || (attrOf(node, 'unit') ?? 'bytes') !== 'bytes') return undefined;
  return Number(text);
}
