import { readFileSync } from 'node:fs';
import type { DomainSpec, NicSpec } from '@limen/libvirt';
import { HypervisorConfig } from '../config/app-config';
import { Image } from '../images/image.entity';
import { kernelFiles } from '../images/image-scanner';
import { Vm } from './vm.entity';
import { vmPaths } from './vm-paths';

/**
 * The hypervisor definition of a VM. Every VM gets a CD-ROM drive (holding
 * `media`, if any) so media can be inserted later, VNC on a unix socket, a serial log, the guest
 * agent's channel, and its NICs (VmNetworking.nicSpecsFor).
 */
export function domainSpecFor(
  vm: Vm,
  image: Image,
  media: Image | null,
  config: HypervisorConfig,
  withSeed: boolean,
  /** Undefined: the port's default, one user-mode NIC whose id is the VM's. */
  nics: NicSpec[] | undefined,
): DomainSpec {
  const paths = vmPaths(config.vmDir, vm.id);
  const kernel = image.kind === 'kernel' ? kernelFiles(image.path) : null;
  return {
    vmId: vm.id,
    ownerId: vm.ownerId,
    title: vm.name,
    description: vm.description,
    vcpus: vm.vcpus,
    memoryMiB: vm.memoryMiB,
    disks: [{ path: paths.disk, format: 'qcow2' }],
    cdrom: { isoPath: media?.path },
    seedIsoPath: withSeed ? paths.seedIso : undefined,
    nics,
    vnc: { enabled: true },
    serialLogPath: paths.serialLog,
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
