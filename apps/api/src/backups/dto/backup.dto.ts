import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsOptional, IsString, IsUUID, Matches } from 'class-validator';
import { PageQueryDto } from '../../common/page-query.dto';
import { IsOptionalNotNull } from '../../common/validation';
import { OperationDto } from '../../operations/dto/operation.dto';
import { VM_NAME } from '../../vms/dto/create-vm.dto';
import {
  Backup,
  BACKUP_CONSISTENCIES,
  BACKUP_STATES,
  BackupConsistency,
  BackupDiskManifest,
  BackupManifest,
  BackupState,
} from '../backup.entity';

/** A backup takes no options: every disk of the VM, as consistent as the guest allows. */
export class CreateBackupDto {}

export const RESTORE_TARGETS = ['new', 'original'] as const;
export type RestoreTarget = (typeof RESTORE_TARGETS)[number];

export class RestoreBackupDto {
  /**
   * `new`: a new VM of yours made from the backup; `original`: the backed-up VM, which must exist
   * and be stopped, gets the backup's disks (its current disks and snapshots are replaced).
   * @example "new"
   */
  @ApiProperty({ enum: RESTORE_TARGETS })
  @IsIn(RESTORE_TARGETS)
  target: RestoreTarget;

  /**
   * `new` only: the new VM's name (default `<vmName>-restore-<first 8 of the backup id>`).
   * @example "web-1-restored"
   */
  @IsOptionalNotNull()
  @IsString()
  @Matches(VM_NAME, { message: 'name must be 1-63 characters of a-z 0-9 -, starting with a letter or digit' })
  name?: string;

  /** `new` only: start the new VM once made (default true). */
  @IsOptionalNotNull()
  @IsBoolean()
  start?: boolean;
}

export class ListBackupsQueryDto extends PageQueryDto {
  /** Admins only: one owner's backups. */
  @IsOptional()
  @IsUUID()
  ownerId?: string;

  /** Backups of one VM (which may no longer exist). */
  @IsOptional()
  @IsUUID()
  vmId?: string;
}

export class BackupDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  /** The VM it was taken of; it may have been deleted since. */
  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  vmId: string | null;

  /** That VM's name when the backup was taken. */
  @ApiProperty({ example: 'web-1' })
  vmName: string;

  @ApiProperty({ format: 'uuid' })
  ownerId: string;

  /** Set when a schedule made it (its retention may delete it). */
  @ApiProperty({ type: String, format: 'uuid', nullable: true, example: null })
  scheduleId: string | null;

  /** `creating` until every file is written and verified; only `ready` ones can be restored or downloaded. */
  @ApiProperty({ enum: BACKUP_STATES, example: 'ready' })
  state: BackupState;

  /**
   * `filesystem`: taken with the guest's filesystems frozen through its agent, or of a stopped
   * VM; `crash`: as after a power cut (a running guest without its agent). Null until taken.
   */
  @ApiProperty({ enum: BACKUP_CONSISTENCIES, nullable: true, example: 'filesystem' })
  consistency: BackupConsistency | null;

  /** Bytes in the backup store (an estimate while creating): what your `backupGiB` quota counts. */
  @ApiProperty({ type: 'integer', example: 187695104 })
  sizeBytes: number;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ type: String, nullable: true, example: '2026-11-26T08:01:12.000Z' })
  completedAt: string | null;

  static from(b: Backup): BackupDto {
    return {
      id: b.id,
      vmId: b.vmId,
      vmName: b.vmName,
      ownerId: b.ownerId,
      scheduleId: b.scheduleId,
      state: b.state,
      consistency: b.consistency,
      sizeBytes: b.sizeBytes,
      createdAt: b.createdAt.toISOString(),
      completedAt: b.completedAt ? b.completedAt.toISOString() : null,
    };
  }
}

export class BackupPageDto {
  @ApiProperty({ type: [BackupDto] })
  items: BackupDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}

export class BackupAcceptedDto {
  @ApiProperty({ type: BackupDto })
  backup: BackupDto;

  @ApiProperty({ type: OperationDto })
  operation: OperationDto;
}

export class BackupManifestNicDto {
  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  networkId: string | null;

  @ApiPropertyOptional({ example: 'virtio' })
  model?: string;
}

export class BackupManifestVmDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'web-1' })
  name: string;

  @ApiProperty({ example: '' })
  description: string;

  @ApiProperty({ type: 'integer', example: 2 })
  vcpus: number;

  @ApiProperty({ type: 'integer', example: 2048 })
  memoryMiB: number;

  @ApiProperty({ format: 'uuid' })
  imageId: string;

  @ApiProperty({ type: [String], example: ['hd'] })
  bootOrder: string[];

  @ApiProperty({ type: [BackupManifestNicDto] })
  nics: BackupManifestNicDto[];
}

export class BackupDiskManifestDto {
  /** The disk's position in the VM (0: the boot disk). */
  @ApiProperty({ type: 'integer', example: 0 })
  position: number;

  /** The file's name in the backup (GET …/disks/{position} serves it). */
  @ApiProperty({ example: 'disk-0.qcow2' })
  file: string;

  @ApiProperty({ type: 'integer', example: 10 })
  sizeGiB: number;

  @ApiProperty({ example: 'virtio' })
  bus: string;

  @ApiProperty({ example: '3f0e9c1a2b7d4e5f8a9b' })
  serial: string;

  @ApiProperty({ type: 'integer', nullable: true, example: 1 })
  bootIndex: number | null;

  /** The file's size: a compressed standalone qcow2. */
  @ApiProperty({ type: 'integer', example: 187695104 })
  sizeBytes: number;

  @ApiProperty({ example: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' })
  sha256: string;

  /** The disk's size as the guest sees it. */
  @ApiProperty({ type: 'integer', example: 10737418240 })
  virtualSizeBytes: number;
}

/** What a backup holds besides its disks' bytes: enough to make the VM again. */
export class BackupManifestDto {
  @ApiProperty({ enum: [1] })
  formatVersion: 1;

  @ApiProperty({ type: BackupManifestVmDto })
  vm: BackupManifestVmDto;

  @ApiProperty({ enum: BACKUP_CONSISTENCIES })
  consistency: BackupConsistency;

  @ApiProperty({ type: [BackupDiskManifestDto] })
  disks: BackupDiskManifestDto[];

  @ApiProperty({ example: '2026-11-26T08:01:12.000Z' })
  createdAt: string;

  static from(manifest: BackupManifest): BackupManifestDto {
    return {
      ...manifest,
      vm: { ...manifest.vm, nics: manifest.vm.nics.map((nic) => ({ ...nic })) },
      disks: manifest.disks.map((disk: BackupDiskManifest) => ({ ...disk })),
    };
  }
}
