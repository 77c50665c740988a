import { Body, Controller, Delete, Get, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiBody, ApiHeader, ApiTags } from '@nestjs/swagger';
import { AuthUser, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { Idempotency, IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { ResourceResponse } from '../idempotency/resource-response';
import { CreateDiskDto, DiskAcceptedDto, DiskListDto, ResizeDiskDto } from './dto/disk.dto';
import { VmDisksService } from './vm-disks.service';
import { ScopeResource } from '../auth/scopes';

const IDEMPOTENCY_HEADER = { name: 'Idempotency-Key', required: false };

@ApiTags('disks')
@ApiBearerAuth()
@ApiProblems(400, 401, 404, 429, 502, 507)
@ScopeResource('vms')
@Controller({ path: 'vms/:vmId/disks', version: '1' })
export class VmDisksController {
  constructor(private readonly disks: VmDisksService) {}

  /** The VM's disks in order: the boot disk (position 0), then its data disks. */
  @Get()
  async list(@CurrentUser() user: AuthUser, @Param('vmId', ParseUUIDPipe) vmId: string): Promise<DiskListDto> {
    return { items: await this.disks.list(user, vmId) };
  }

  /**
   * Add an empty data disk (a VM has at most 16 disks: a 17th is 400 `VALIDATION_FAILED`); it is
   * hot-plugged when the VM runs. Its size counts against your disk quota at once (403
   * `QUOTA_EXCEEDED`); a VM that is provisioning, deleting or in error is 409 `INVALID_STATE`. A
   * hot-plug the hypervisor refuses fails the operation with `INVALID_STATE`, and nothing of the disk
   * is left.
   */
  @Post()
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiBody({
    type: CreateDiskDto,
    examples: {
      virtio: {
        summary: 'A 10 GiB virtio disk',
        description:
          'Shows up in the guest as the next `/dev/vdX`, with the serial the response gives. A 17th disk is refused with `VALIDATION_FAILED`, one beyond your disk quota with `QUOTA_EXCEEDED`.',
        value: { sizeGiB: 10 },
      },
      scsi: {
        summary: 'A 20 GiB disk on the SCSI bus',
        description: 'Shows up in the guest as the next `/dev/sdX`, on the VM’s virtio-scsi controller.',
        value: { sizeGiB: 20, bus: 'scsi' },
      },
    },
  })
  @ApiAcceptedResponse({ type: DiskAcceptedDto })
  @ApiProblems(403, 409, 422)
  @ResourceResponse()
  add(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Body() dto: CreateDiskDto,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<DiskAcceptedDto> {
    return this.disks.add(user, vmId, dto, idem);
  }

  /** Remove a data disk and delete its volume (unplugged first when the VM runs); the boot disk stays: 409 `CONFLICT`. */
  @Delete(':diskId')
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiAcceptedResponse({ type: DiskAcceptedDto })
  @ApiProblems(409, 422)
  @ResourceResponse()
  remove(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Param('diskId', ParseUUIDPipe) diskId: string,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<DiskAcceptedDto> {
    return this.disks.remove(user, vmId, diskId, idem);
  }

  /**
   * Grow a disk, live when the VM runs (the guest sees the new size at once; growing its partition
   * and filesystem is the guest's business). Disks only grow: a size not larger than the current
   * one is 400 `VALIDATION_FAILED`; the growth counts against your disk quota (403 `QUOTA_EXCEEDED`).
   */
  @Post(':diskId/resize')
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiBody({
    type: ResizeDiskDto,
    examples: {
      grow: {
        summary: 'Grow a disk to 20 GiB',
        description:
          'The size must be larger than the current one (`VALIDATION_FAILED` otherwise); the growth must fit your disk quota (`QUOTA_EXCEEDED` otherwise).',
        value: { sizeGiB: 20 },
      },
    },
  })
  @ApiAcceptedResponse({ type: DiskAcceptedDto })
  @ApiProblems(403, 409, 422)
  @ResourceResponse()
  resize(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Param('diskId', ParseUUIDPipe) diskId: string,
    @Body() dto: ResizeDiskDto,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<DiskAcceptedDto> {
    return this.disks.resize(user, vmId, diskId, dto, idem);
  }
}
