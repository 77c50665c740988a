import { createHash } from 'node:crypto';
import { HypervisorError } from '../../errors/hypervisor-error';
import { DiskSpec, MachineType } from '../../models';
import { diskAlias } from '../../naming/disk-name';
import { MAX_NICS } from '../../networks/network-validation';
import { HOTPLUG_PORTS } from '../../xml/domain-xml-builder';
import { MAX_DISKS, scsiUnitOf } from '../../xml/spec-validation';

/** QEMU's id of the virtio-scsi controller the CD-ROM, the seed and SCSI disks sit on. */
export const SCSI_CONTROLLER_ID = 'scsi0';

/**
 * On q35, PCI Express root ports for disks with an id (the root bus takes no hot-plugged device,
 * and a device on it cannot be unplugged either): one per such virtio disk plus HOTPLUG_PORTS
 * spare ones, as many as libvirt domains get. Each port costs the guest kernel some 30 ms at boot
 * under TCG, so there are not MAX_DISKS of them; beyond the spare ones a disk plugs at the next start.
 */
export function diskPortId(index: number): string {
  return `limen-diskport${index}`;
}

/** The disk ports sit as functions of two slots of their own, so they cost at most two of the root bus's 32 slots. */
const DISK_PORT_SLOT = 0x10;

export function diskPortArgv(machine: MachineType, disks: DiskSpec[]): string[] {
  if (machine !== 'q35') return [];
  const count = Math.min(
    MAX_DISKS,
    disks.filter((disk) => disk.id !== undefined && disk.bus !== 'scsi').length + HOTPLUG_PORTS,
  );
  return Array.from({ length: count }, (_, index) => {
    const slot = (DISK_PORT_SLOT + Math.floor(index / 8)).toString(16);
    const fn = index % 8;
    // Chassis numbers follow the NIC ports' (1..MAX_NICS): each port needs its own.
    return [
      '-device',
      `pcie-root-port,id=${diskPortId(index)},bus=pcie.0,chassis=${MAX_NICS + 1 + index},addr=0x${slot}.${fn}${fn === 0 ? ',multifunction=on' : ''}`,
    ];
  }).flat();
}

/**
 * The block node of a disk with an id. Node names are at most 31 characters, a UUID-based alias
 * is longer: a digest of the id stands in.
 */
export function diskNodeName(diskId: string): string {
  return `ldisk-${createHash('sha256').update(diskAlias(diskId)).digest('hex').slice(0, 24)}`;
}

/** `-blockdev` JSON, and QMP blockdev-add arguments, of a disk with an id: its format over its file. */
export function diskBlockdev(disk: DiskSpec & { id: string }): Record<string, unknown> {
  return {
    driver: disk.format ?? 'qcow2',
    'node-name': diskNodeName(disk.id),
    file: { driver: 'file', filename: disk.path },
  };
}

/** Where a disk's device goes: a virtio disk on a disk port (q35, else the root bus), a SCSI disk at its target's unit. */
export interface DiskPlacement {
  port?: string;
  /** Required for a SCSI disk (sdc → unit 2). */
  scsiTarget?: string;
}

/**
 * The device of a disk with an id (`-device` JSON and QMP device_add): virtio-blk-pci, or scsi-hd
 * on the virtio-scsi controller.
 */
export function diskDeviceProps(
  disk: DiskSpec & { id: string },
  placement: DiskPlacement,
  bootindex?: number,
): Record<string, unknown> {
  let device: Record<string, unknown>;
  if (disk.bus === 'scsi') {
    if (!placement.scsiTarget) throw new HypervisorError('INVALID_ARGUMENT', 'a SCSI disk needs a target');
    device = { driver: 'scsi-hd', bus: `${SCSI_CONTROLLER_ID}.0`, 'scsi-id': scsiUnitOf(placement.scsiTarget), lun: 0 };
  } else {
    device = { driver: 'virtio-blk-pci', ...(placement.port ? { bus: placement.port } : {}) };
  }
  return {
    ...device,
    drive: diskNodeName(disk.id),
    id: diskAlias(disk.id),
    ...(disk.serial !== undefined ? { serial: disk.serial } : {}),
    ...(bootindex !== undefined ? { bootindex } : {}),
  };
}
