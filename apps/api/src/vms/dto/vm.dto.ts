import { ApiProperty } from '@nestjs/swagger';
import { OperationDto } from '../../operations/dto/operation.dto';
import { Vm } from '../vm.entity';
import { VM_STATES, VmState } from '../vm-state';
import { BOOT_DEVICES } from './update-vm.dto';

export class VmDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'web-1' })
  name: string;

  @ApiProperty({ example: 'staging web server' })
  description: string;

  @ApiProperty({ format: 'uuid' })
  ownerId: string;

  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  hostId: string | null;

  @ApiProperty({ type: 'integer', example: 1 })
  vcpus: number;

  @ApiProperty({ type: 'integer', example: 256 })
  memoryMiB: number;

  @ApiProperty({ type: 'integer', example: 1 })
  diskGiB: number;

  @ApiProperty({ format: 'uuid' })
  imageId: string;

  /** ISO in the CD-ROM drive. */
  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  mediaImageId: string | null;

  @ApiProperty({ enum: BOOT_DEVICES, isArray: true, example: ['hd'] })
  bootOrder: string[];

  @ApiProperty({ enum: VM_STATES, example: 'running' })
  state: VmState;

  @ApiProperty({ type: String, nullable: true, example: null })
  stateReason: string | null;

  /** Also the ETag: `"<version>"`. */
  @ApiProperty({ type: 'integer', example: 3 })
  version: number;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  updatedAt: string;

  static from(vm: Vm): VmDto {
    return {
      id: vm.id,
      name: vm.name,
      description: vm.description,
      ownerId: vm.ownerId,
      hostId: vm.hostId,
      vcpus: vm.vcpus,
      memoryMiB: vm.memoryMiB,
      diskGiB: vm.diskGiB,
      imageId: vm.imageId,
      mediaImageId: vm.mediaImageId,
      bootOrder: vm.bootOrder,
      state: vm.state,
      stateReason: vm.stateReason,
      version: vm.version,
      createdAt: vm.createdAt.toISOString(),
      updatedAt: vm.updatedAt.toISOString(),
    };
  }
}

export class VmPageDto {
  @ApiProperty({ type: [VmDto] })
  items: VmDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}

/** 202 body of every request that starts hypervisor work. */
export class VmAcceptedDto {
  @ApiProperty({ type: VmDto })
  vm: VmDto;

  @ApiProperty({ type: OperationDto })
  operation: OperationDto;
}
