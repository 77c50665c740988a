import { HttpStatus, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { AuthUser } from '../auth/decorators';
import { AppException, ErrorCode } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { VmDiskRepository } from '../disks/vm-disk.repository';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { OperationDto } from '../operations/dto/operation.dto';
import { OperationsService } from '../operations/operations.service';
import { QuotaLedger } from '../quotas/quota-ledger';
import { Vm } from '../vms/vm.entity';
import { VmAccess } from '../vms/vm-access';
import { isLegacyVolume } from '../vms/vm-files';
import { CreateTemplateDto, ImageAcceptedDto, ImageDto } from './dto/image.dto';
import { Image } from './image.entity';
import { ImageRepository } from './image.repository';

const GIB = 1024 ** 3;

/**
 * The file a template is written to in IMAGE_DIR: named after its id, never after the user's
 * name for it, so no upload or other template can collide with it; a name the scanner lists (a
 * `.qcow2` disk image), so a rescan finds the row by its path instead of adding another.
 */
export function templateFileName(imageId: string): string {
  return `template-${imageId}.qcow2`;
}

/**
 * Templates: a stopped VM's boot disk written as a standalone compressed qcow2 image in
 * IMAGE_DIR (by the `image.create` operation, TemplateOperations), owned by the caller, private
 * until an admin publishes it, counted against the owner's `backupGiB`.
 */
@Injectable()
export class TemplatesService {
  constructor(
    private readonly config: AppConfig,
    private readonly access: VmAccess,
    private readonly images: ImageRepository,
    private readonly vmDisks: VmDiskRepository,
    private readonly hostPorts: HostPorts,
    private readonly storage: HostStorage,
    private readonly ledger: QuotaLedger,
    private readonly operations: OperationsService,
  ) {}

  async create(user: AuthUser, vmId: string, dto: CreateTemplateDto, idem?: IdempotentRequest) {
    // Measured before the transaction (the hypervisor may be slow); the request checks again below.
    const estimate = await this.estimate(await this.access.visible(user, vmId));
    return this.operations.accept<ImageAcceptedDto>(user.id, idem, async (tx) => {
      // Locked: the VM cannot be started or deleted meanwhile, and after commit the operation holds it.
      const vm = await this.access.visible(user, vmId, tx, true);
      if (vm.state !== 'stopped')
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The VM is ${vm.state}: stop it first`);
      const nameTaken = () =>
        new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, `An image named ${dto.name} already exists`);
      if (await this.images.nameTaken(tx, dto.name)) throw nameTaken();
      // The row's size is the reservation until the file is written and measured.
      await this.ledger.reserve(tx, user.id, { backupGiB: estimate / GIB });
      const id = randomUUID();
      const image = Object.assign(new Image(), {
        id,
        name: dto.name,
        description: dto.description ?? '',
        kind: 'disk',
        path: join(this.config.hypervisor.imageDir, templateFileName(id)),
        format: 'qcow2',
        sizeBytes: estimate,
        sha256: null,
        sha256Stamp: null,
        // Not usable until written (state), nor found by a rescan before then.
        available: false,
        ownerId: user.id,
        sourceVmId: vm.id,
        visibility: 'private',
        state: 'creating',
      });
      if (!(await this.images.insertTemplateIfNameFree(tx, image))) throw nameTaken();
      const op = await this.operations.create(tx, {
        kind: 'image.create',
        ownerId: user.id,
        vmId: vm.id,
        params: { imageId: id },
      });
      return { op, result: { image: ImageDto.from(image), operation: OperationDto.from(op) } };
    });
  }

  /**
   * What the template will take in the store, reserved up front: the boot disk's allocated bytes
   * (the export compresses them, and merges in the image under an overlay, which the measured size
   * then counts), or its virtual size when the hypervisor gives no allocation.
   */
  private async estimate(vm: Vm): Promise<number> {
    const [boot] = await this.vmDisks.ofVm(vm.id);
    if (!boot || isLegacyVolume(boot.volume))
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, 'The VM has no boot disk in a storage pool');
    const pool = await this.storage.vmPool(vm.hostId);
    const volume = await this.hostPorts.forVm(vm).getVolume({ pool: pool.name, name: boot.volume }, 'qcow2');
    return volume.actualSizeBytes || volume.virtualSizeBytes;
  }
}
