import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, Max, Min } from 'class-validator';
import type { DiskBus } from '@limen/libvirt';
import { IsOptionalNotNull } from '../../common/validation';
import { OperationDto } from '../../operations/dto/operation.dto';
import { VmDisk } from '../vm-disk.entity';

export const DISK_BUSES: readonly DiskBus[] = ['virtio', 'scsi'];
/** A VM has 1 to this many disks: the boot disk (position 0) and up to 15 data disks. */
export const MAX_DISKS = 16;
/** The largest disk, as for CreateVmDto.diskGiB. */
export const MAX_DISK_GIB = 65536;

/** A data disk to add: at create (`disks`) or to an existing VM. It starts empty. */
export class CreateDiskDto {
  /** @example 10 */
  @IsInt()
  @Min(1)
  @Max(MAX_DISK_GIB)
  @ApiProperty({ type: 'integer', minimum: 1, maximum: MAX_DISK_GIB })
  sizeGiB: number;

  /** `virtio`: /dev/vdX in the guest; `scsi`: /dev/sdX on the VM's virtio-scsi controller. */
  @ApiPropertyOptional({ enum: DISK_BUSES, default: 'virtio' })
  @IsOptionalNotNull()
  @IsIn(DISK_BUSES)
  bus?: DiskBus;
}

export class ResizeDiskDto {
  /** The new size: larger than the current one (disks only grow). @example 20 */
  @IsInt()
  @Min(1)
  @Max(MAX_DISK_GIB)
  @ApiProperty({ type: 'integer', minimum: 1, maximum: MAX_DISK_GIB })
  sizeGiB: number;
}

export class DiskDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  /** Order in the VM: 0 is the boot disk (never removed), data disks take the lowest free of 1–15. */
  @ApiProperty({ type: 'integer', example: 1, minimum: 0, maximum: MAX_DISKS - 1 })
  position: number;

  @ApiProperty({ type: 'integer', example: 10 })
  sizeGiB: number;

  @ApiProperty({ enum: DISK_BUSES, example: 'virtio' })
  bus: DiskBus;

  /** The boot disk's boot order (1); null for data disks. */
  @ApiProperty({ type: 'integer', nullable: true, example: null })
  bootIndex: number | null;

  /** What the guest sees as the disk's serial (`lsblk -o SERIAL`, /dev/disk/by-id/virtio-<serial>): the id's first 20 hex digits. */
  @ApiProperty({ example: '3f2a9c41d7e84b0a9c11' })
  serial: string;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  createdAt: string;

  static from(disk: VmDisk): DiskDto {
    return {
      id: disk.id,
      position: disk.position,
      sizeGiB: disk.sizeGiB,
      bus: disk.bus,
      bootIndex: disk.bootIndex,
      serial: disk.serial,
      createdAt: disk.createdAt.toISOString(),
    };
  }
}

export class DiskListDto {
  @ApiProperty({ type: [DiskDto] })
  items: DiskDto[];
}

/** 202 body of a disk add, remove or resize: the disk (as it will be) and the operation. */
export class DiskAcceptedDto {
  @ApiProperty({ type: DiskDto })
  disk: DiskDto;

  @ApiProperty({ type: OperationDto })
  operation: OperationDto;
}
