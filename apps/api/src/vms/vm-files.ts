import { join } from 'node:path';
import { DiskSpec, seedVolumeName, serialLogName } from '@limen/libvirt';
import { diskSpecOf } from '../disks/disk-layout';
import type { VmDisk } from '../disks/vm-disk.entity';

/** Where the hypervisor finds a VM's files: its disks (in domain order), its seed ISO and its serial log. */
export interface VmFiles {
  disks: DiskSpec[];
  seedIsoPath: string;
  serialLogPath: string;
}

/**
 * A disk volume of a VM made before storage pools: `<vmId>/disk.qcow2`, a file in the VM's own
 * folder under VM_DIR rather than a volume of the pool.
 */
export function isLegacyVolume(volume: string): boolean {
  return volume.includes('/');
}

/**
 * The files of a VM on its host, derived from its ids only, never from user input: flat volumes in
 * the host's VM pool (`poolPath`), or, for a VM made before pools (its boot disk is a legacy
 * volume), everything in VM_DIR/<vmId>/ as then.
 */
export function vmFiles(vmId: string, disks: readonly VmDisk[], poolPath: string, vmDir: string): VmFiles {
  const legacy = disks.some((disk) => isLegacyVolume(disk.volume));
  const folder = legacy ? join(vmDir, vmId) : poolPath;
  return {
    disks: disks.map((disk) =>
      diskSpecOf(disk, isLegacyVolume(disk.volume) ? join(vmDir, disk.volume) : join(poolPath, disk.volume)),
    ),
    seedIsoPath: join(folder, legacy ? 'seed.iso' : seedVolumeName(vmId)),
    serialLogPath: join(folder, legacy ? 'serial.log' : serialLogName(vmId)),
  };
}
