import { DiskSpec } from '../models';
import { diskAlias } from '../naming/disk-name';
import { scsiUnitOf } from './spec-validation';
import { ATTR, XmlNode } from './xml-codec';

const a = (name: string): string => ATTR + name;

/**
 * `<disk>` of a LIMEN disk at `target`: its alias (`ua-disk-<id>`, to unplug it by id), serial,
 * and per-device boot number when it has one. A SCSI disk sits on controller 0 (the virtio-scsi one)
 * at the unit of its target, so it never meets the CD-ROM (unit 0) or the seed (unit 1) and never
 * makes libvirt add a controller of its default model (LSI, which cloud kernels lack).
 */
export function diskNode(disk: DiskSpec, target: string, bootOrder?: number): XmlNode {
  const scsi = disk.bus === 'scsi';
  const node: XmlNode = {
    [a('type')]: 'file',
    [a('device')]: 'disk',
    driver: { [a('name')]: 'qemu', [a('type')]: disk.format ?? 'qcow2' },
    source: { [a('file')]: disk.path },
    target: { [a('dev')]: target, [a('bus')]: scsi ? 'scsi' : 'virtio' },
  };
  if (bootOrder !== undefined) node.boot = { [a('order')]: String(bootOrder) };
  if (disk.serial !== undefined) node.serial = disk.serial;
  if (disk.id !== undefined) node.alias = { [a('name')]: diskAlias(disk.id) };
  if (scsi) {
    node.address = {
      [a('type')]: 'drive',
      [a('controller')]: '0',
      [a('bus')]: '0',
      [a('target')]: '0',
      [a('unit')]: String(scsiUnitOf(target)),
    };
  }
  return node;
}
