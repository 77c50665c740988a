import { ApiProperty, ApiPropertyOptional, ExamplesObject } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { IsOptionalNotNull } from '../../common/validation';
import { IsFreeText } from '../../common/free-text';
import { CreateDiskDto, MAX_DISKS } from '../../disks/dto/disk.dto';
import { CreateVmNicDto } from '../../networks/dto/create-port-forward.dto';
import { MAX_NICS } from '../../networks/dto/nic.dto';

export const VM_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export class CloudInitDto {
  /**
   * Guest hostname (RFC 1123 label).
   * @example "web-1"
   */
  @IsOptionalNotNull()
  @IsString()
  @Matches(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, { message: 'hostname must be a DNS label' })
  hostname?: string;

  /**
   * Public keys for the default user.
   * @example ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4TBbD5b18q921po0anOiIGyC5nqcL7cFFtdx0f1DDe alice@laptop"]
   */
  @IsOptionalNotNull()
  @IsArray()
  @ArrayMaxSize(32)
  @IsString({ each: true })
  @MaxLength(16384, { each: true })
  @Matches(/^(ssh|ecdsa|sk)-[A-Za-z0-9@.-]+ [A-Za-z0-9+/=]+( [^\r\n]*)?$/, {
    each: true,
    message: 'each key must be one OpenSSH public key line',
  })
  sshAuthorizedKeys?: string[];

  /**
   * Raw user-data (#cloud-config or a script), up to 64 KiB; stored in the seed ISO as-is.
   * @example "#cloud-config\npackages: [nginx]\n"
   */
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(65536)
  userData?: string;
}

export class CreateVmDto {
  /**
   * Unique among your VMs: 1-63 of a-z 0-9 -, starting alphanumeric.
   * @example "web-1"
   */
  @IsString()
  @Matches(VM_NAME, { message: 'name must be 1-63 characters of a-z 0-9 -, starting with a letter or digit' })
  name: string;

  /** @example 1 */
  @IsInt()
  @Min(1)
  @Max(64)
  @ApiProperty({ type: 'integer' })
  vcpus: number;

  /** @example 256 */
  @IsInt()
  @Min(64)
  @Max(1048576)
  @ApiProperty({ type: 'integer' })
  memoryMiB: number;

  /**
   * The boot disk's size (over a disk image, never smaller than the image). The VM's `diskGiB` in
   * answers is the sum of all its disks.
   * @example 1
   */
  @IsInt()
  @Min(1)
  @Max(65536)
  @ApiProperty({ type: 'integer' })
  diskGiB: number;

  /**
   * Empty data disks besides the boot disk, at positions 1, 2, … (at most 15: a VM has at most
   * 16 disks). Each counts against your disk quota; see GET /api/v1/vms/{id}/disks.
   * @example [{"sizeGiB": 10}]
   */
  @IsOptionalNotNull()
  @IsArray()
  @ArrayMaxSize(MAX_DISKS - 1)
  @ValidateNested({ each: true })
  @Type(() => CreateDiskDto)
  disks?: CreateDiskDto[];

  /** An image id from GET /api/v1/images. */
  @IsUUID()
  imageId: string;

  /**
   * Free text, up to 1 KiB; no control characters other than tab and line breaks.
   * @example "staging web server"
   */
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(1024)
  @IsFreeText()
  description?: string;

  /** Start the VM once it is created. */
  @ApiPropertyOptional({ default: true })
  @IsOptionalNotNull()
  @IsBoolean()
  start?: boolean;

  /**
   * Start the VM again whenever the reconcile sweep finds its domain not running while you want
   * it running (after libvirtd or the host restarted, or QEMU crashed). Default: the value of `start`.
   */
  @IsOptionalNotNull()
  @IsBoolean()
  autostart?: boolean;

  /** Admins only: the host to place the VM on; otherwise the scheduler chooses. */
  @IsOptionalNotNull()
  @IsUUID()
  hostId?: string;

  /**
   * For disk images: ids of your SSH keys (GET /api/v1/ssh-keys), installed for the image's default
   * user by cloud-init together with `cloudInit.sshAuthorizedKeys`. Up to 32; an id that is not one
   * of your keys is 404.
   */
  @IsOptionalNotNull()
  @IsArray()
  @ArrayMaxSize(32)
  @IsUUID(undefined, { each: true })
  sshKeyIds?: string[];

  /**
   * The VM's NICs in order, 1-8 (networks from GET /api/v1/networks). Default: one NIC on the
   * default network (VM_NETWORK, `user` unless configured). A user-mode NIC may bring `portForwards`.
   */
  @IsOptionalNotNull()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_NICS)
  @ValidateNested({ each: true })
  @Type(() => CreateVmNicDto)
  nics?: CreateVmNicDto[];

  /** For disk images: a NoCloud seed ISO is built from these. */
  @IsOptionalNotNull()
  @ValidateNested()
  @Type(() => CloudInitDto)
  cloudInit?: CloudInitDto;
}

/** An image id is only known at run time: the examples say where to take one. */
const IMAGE_ID_PLACEHOLDER = '5d2f1a8e-7c3b-4e9a-9f1d-2b6c8e4a7f30';

/** The request examples of POST /api/v1/vms (Swagger UI sends them as they are). */
export const CREATE_VM_EXAMPLES: ExamplesObject = {
  fromKernelImage: {
    summary: 'A VM from a kernel image',
    description:
      '`imageId`: the id of an image from GET /api/v1/images; this one is a placeholder, so sent as is it is refused for `imageId`.',
    value: {
      name: 'web-1',
      vcpus: 1,
      memoryMiB: 256,
      diskGiB: 1,
      imageId: IMAGE_ID_PLACEHOLDER,
      description: 'staging web server',
      start: true,
    },
  },
  fromDiskImageWithCloudInit: {
    summary: 'A VM from a disk image, configured by cloud-init',
    description:
      '`cloudInit` needs a disk image: `imageId` must name an available disk image from GET /api/v1/images; this one is a placeholder, so sent as is it is refused for `imageId`.',
    value: {
      name: 'web-2',
      vcpus: 1,
      memoryMiB: 512,
      diskGiB: 4,
      imageId: IMAGE_ID_PLACEHOLDER,
      cloudInit: {
        hostname: 'web-2',
        sshAuthorizedKeys: [
          'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4TBbD5b18q921po0anOiIGyC5nqcL7cFFtdx0f1DDe alice@laptop',
        ],
        userData: '#cloud-config\npackages: [nginx]\n',
      },
    },
  },
};
