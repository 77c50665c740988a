import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { HypervisorError } from '@limen/libvirt';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { VmDiskRepository } from '../disks/vm-disk.repository';
import { EventsService } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { Operation } from '../operations/operation.entity';
import { OperationRunner } from '../operations/operation-runner';
import { VmRepository } from '../vms/vm.repository';
import { ImageDto } from './dto/image.dto';
import { fileStamp } from './file-stamp';
import { Image } from './image.entity';
import { ImageRepository } from './image.repository';

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/**
 * `image.create`: the source VM's boot disk exported as a standalone compressed qcow2 to the
 * template's file in IMAGE_DIR, then measured (its size is what `backupGiB` counts from then on)
 * and hashed; the template becomes ready. A re-run after a crash writes the file again
 * (exportVolume replaces it only once complete); a failure deletes the file and the row, which
 * releases the reservation.
 */
@Injectable()
export class TemplateOperations implements OnModuleInit {
  private readonly logger = new Logger('TemplateOperations');

  constructor(
    private readonly runner: OperationRunner,
    private readonly images: ImageRepository,
    private readonly vms: VmRepository,
    private readonly vmDisks: VmDiskRepository,
    private readonly hostPorts: HostPorts,
    private readonly storage: HostStorage,
    private readonly events: EventsService,
  ) {}

  onModuleInit(): void {
    this.runner.register('image.create', (op) => this.create(op));
  }

  private async create(op: Operation<'image.create'>): Promise<Record<string, unknown>> {
    const image = await this.images.find(op.params.imageId);
    if (!image) return { skipped: true };
    if (image.state === 'ready') return { imageId: image.id, sizeBytes: image.sizeBytes };
    try {
      const written = await this.write(op.vmId!, image);
      await this.images.markTemplateReady(image.id, written);
    } catch (error) {
      await this.discard(image);
      throw error;
    }
    const ready = (await this.images.find(image.id))!;
    await this.events.publish({ type: 'image.created', ownerId: ready.ownerId, payload: ImageDto.from(ready) });
    return { imageId: ready.id, sizeBytes: ready.sizeBytes };
  }

  private async write(vmId: string, image: Image) {
    const vm = await this.vms.find(vmId);
    if (!vm) throw new HypervisorError('DOMAIN_NOT_FOUND', 'The source VM no longer exists');
    const [boot] = await this.vmDisks.ofVm(vm.id);
    if (!boot) throw new HypervisorError('VOLUME_NOT_FOUND', 'The source VM has no boot disk');
    const pool = await this.storage.vmPool(vm.hostId);
    // A running domain's disk is refused (INVALID_STATE): the request found the VM stopped, and its
    // operation has kept it so since.
    await this.hostPorts.forVm(vm).exportVolume({ pool: pool.name, name: boot.volume }, image.path, { compress: true });
    // Written 0600; QEMU (another user) reads it as the backing file of the VMs made from it, and
    // the other hosts' copies are made from it.
    await chmod(image.path, 0o644);
    return {
      sizeBytes: (await stat(image.path)).size,
      sha256: await sha256Of(image.path),
      sha256Stamp: await fileStamp(image.path),
    };
  }

  private async discard(image: Image): Promise<void> {
    try {
      await rm(image.path, { force: true });
      await this.images.delete(image.id);
    } catch (error) {
      this.logger.warn(`Could not remove the failed template ${image.id}: ${(error as Error).message}`);
    }
  }
}
