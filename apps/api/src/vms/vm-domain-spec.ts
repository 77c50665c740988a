import { readFileSync } from 'node:fs';
import type { DomainSpec, NicSpec } from '@limen/libvirt';
import { Image } from '../images/image.entity';
import { kernelFiles } from '../images/image-scanner';
import { Vm } from './vm.entity';
import { VmFiles } from './vm-files';

/**
 * The hypervisor definition of a VM. Every VM gets a CD-ROM drive (holding
 * `media`, if any) so media can be inserted later, VNC on a unix socket, a serial log, the guest
 * agent's channel, and its NICs (VmNetworking.nicSpecsFor).
 */
export function domainSpecFor(
  vm: Vm,
  image: Image,
  media: Image | null,
  /** Its disks, seed and serial log on the host (see vmFiles). */
  files: VmFiles,
  withSeed: boolean,
  /** Undefined: the port's default, one user-mode NIC whose id is the VM's. */
  nics: NicSpec[] | undefined,
): DomainSpec {
  const kernel = image.kind === 'kernel' ? kernelFiles(image.path) : null;
  return {
    vmId: vm.id,
    ownerId: vm.ownerId,
    title: vm.name,
    description: vm.description,
    vcpus: vm.vcpus,
    memoryMiB: vm.memoryMiB,
    disks: files.disks,
    cdrom: { isoPath: media?.path },
    seedIsoPath: withSeed ? files.seedIsoPath : undefined,
    nics,
    vnc: { enabled: true },
    serialLogPath: files.serialLogPath,
    kernel: kernel
      ? {
          kernelPath: kernel.kernel,
          initrdPath: kernel.initrd,
          cmdline: kernel.cmdline ? readFileSync(kernel.cmdline, 'utf8').trim() : 'console=ttyS0',
        }
      : undefined,
    bootOrder: vm.bootOrder,
  };
}
