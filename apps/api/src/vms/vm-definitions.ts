import { Injectable } from '@nestjs/common';
import { DomainInfo } from '@limen/libvirt';
import { AppConfig } from '../config/app-config';
import { VmDisk } from '../disks/vm-disk.entity';
import { VmDiskRepository } from '../disks/vm-disk.repository';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { HostImageCache } from '../images/host-image-cache';
import { Image } from '../images/image.entity';
import { ImagesService } from '../images/images.service';
import { VmNetworking } from '../networks/vm-networking';
import { domainSpecFor, ImagesOnHost } from './vm-domain-spec';
import { vmFiles } from './vm-files';
import { Vm } from './vm.entity';

/** A VM's domain definition as its rows say it: for changes that rewrite the whole definition. */
@Injectable()
export class VmDefinitions {
  constructor(
    private readonly config: AppConfig,
    private readonly hostPorts: HostPorts,
    private readonly images: ImagesService,
    private readonly networking: VmNetworking,
    private readonly storage: HostStorage,
    private readonly vmDisks: VmDiskRepository,
    private readonly imageCopies: HostImageCache,
  ) {}

  /**
   * Rewrites the VM's persistent definition from its rows (its image, inserted media, NICs, boot
   * order) with `disks` (default: its disk rows) as its disks; a running guest gets it at its next
   * cold boot. The seed ISO stays as the current definition has it.
   */
  async redefine(vm: Vm, disks?: VmDisk[]): Promise<DomainInfo> {
    const port = this.hostPorts.forVm(vm);
    const image = await this.images.get(vm.imageId);
    const media = vm.mediaImageId ? await this.images.get(vm.mediaImageId) : null;
    const hasSeed = (await port.getDomain(vm.id)).disks.some((disk) => disk.seed);
    const nics = await this.networking.nicSpecsFor(vm.id);
    const [pool, rows] = await Promise.all([this.storage.vmPool(vm.hostId), disks ?? this.vmDisks.ofVm(vm.id)]);
    const files = vmFiles(vm.id, rows, pool.path, this.config.hypervisor.vmDir);
    const images = await this.imagesOnHost(vm, image, media);
    return port.redefineDomain(domainSpecFor(vm, image, images, files, hasSeed, nics));
  }

  /** The kernel image's files and the inserted ISO on the VM's host (copied there first if need be). */
  async imagesOnHost(vm: Vm, image: Image, media: Image | null): Promise<ImagesOnHost> {
    return {
      kernel: image.kind === 'kernel' ? await this.imageCopies.kernelFor(vm.hostId, image) : undefined,
      isoPath: media ? (await this.imageCopies.volumeFor(vm.hostId, media)).path : undefined,
    };
  }
}
