import type { DiskSpec } from '@limen/libvirt';
import { MAX_DISKS } from './dto/disk.dto';
import { VmDisk } from './vm-disk.entity';

/** The lowest free data-disk position (1 to 15; 0 is the boot disk's), or null when the VM has all 16. */
export function freeDiskPosition(disks: ReadonlyArray<Pick<VmDisk, 'position'>>): number | null {
  const taken = new Set(disks.map((disk) => disk.position));
  for (let position = 1; position < MAX_DISKS; position++) if (!taken.has(position)) return position;
  return null;
}

/** A disk as the domain definition holds it, at `path` (its volume's path on the host). */
export function diskSpecOf(disk: VmDisk, path: string): DiskSpec {
  return {
    id: disk.id,
    path,
    format: 'qcow2',
    bus: disk.bus,
    serial: disk.serial,
    ...(disk.bootIndex !== null ? { bootIndex: disk.bootIndex } : {}),
  };
}
