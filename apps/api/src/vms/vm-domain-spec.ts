import { readFileSync } from 'node:fs';
import { macAddressFor, type DomainSpec } from '@limen/libvirt';
import { HypervisorConfig } from '../config/app-config';
import { Image } from '../images/image.entity';
import { kernelFiles } from '../images/image-scanner';
import { Vm } from './vm.entity';
import { vmPaths } from './vm-paths';

/**
 * The hypervisor definition of a VM. Every VM gets a CD-ROM drive (holding
 * `media`, if any) so media can be inserted later, VNC on a unix socket, and a serial log.
 */
export function domainSpecFor(
  vm: Vm,
  image: Image,
  media: Image | null,
  config: HypervisorConfig,
  withSeed: boolean,
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
    // Undefined: one user-mode NIC (id = VM id). The networks module replaces this with the VM's NICs.
    nics:
      config.vmNetwork === 'user'
        ? undefined
        : [{ id: vm.id, mac: macAddressFor(vm.id), attachment: { type: 'network', network: config.vmNetwork } }],
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
