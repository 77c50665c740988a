import { readFileSync } from 'node:fs';
import type { DomainSpec, NicSpec } from '@limen/libvirt';
import type { HostKernelFiles } from '../images/host-image-cache';
import { Image } from '../images/image.entity';
import { kernelFiles } from '../images/image-scanner';
import { Vm } from './vm.entity';
import { VmFiles } from './vm-files';

/** Where the VM's images are on its host (HostImageCache): the kernel image's files, the inserted ISO. */
export interface ImagesOnHost {
  kernel?: HostKernelFiles;
  isoPath?: string;
}

/**
 * The hypervisor definition of a VM. Every VM gets a CD-ROM drive (holding the inserted ISO, if
 * any) so media can be inserted later, VNC on a unix socket, a serial log, the guest agent's
 * channel, and its NICs (VmNetworking.nicSpecsFor).
 */
export function domainSpecFor(
  vm: Vm,
  image: Image,
  images: ImagesOnHost,
  /** Its disks, seed and serial log on the host (see vmFiles). */
  files: VmFiles,
  withSeed: boolean,
  /** Undefined: the port's default, one user-mode NIC whose id is the VM's. */
  nics: NicSpec[] | undefined,
): DomainSpec {
  // The command line is read here, on the api's machine; the kernel and initrd are files of the host.
  const cmdline = image.kind === 'kernel' ? kernelFiles(image.path)?.cmdline : undefined;
  return {
    vmId: vm.id,
    ownerId: vm.ownerId,
    title: vm.name,
    description: vm.description,
    vcpus: vm.vcpus,
    memoryMiB: vm.memoryMiB,
    disks: files.disks,
    cdrom: { isoPath: images.isoPath },
    seedIsoPath: withSeed ? files.seedIsoPath : undefined,
    nics,
    vnc: { enabled: true },
    serialLogPath: files.serialLogPath,
    kernel: images.kernel
      ? {
          kernelPath: images.kernel.kernel,
          initrdPath: images.kernel.initrd,
          cmdline: cmdline ? readFileSync(cmdline, 'utf8').trim() : 'console=ttyS0',
        }
      : undefined,
    bootOrder: vm.bootOrder,
  };
}
