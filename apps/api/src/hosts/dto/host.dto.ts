import { ApiProperty, ApiPropertyOptional, PartialType, PickType } from '@nestjs/swagger';
import { libvirtUriRefusal } from '@limen/libvirt';
import { IsBoolean, IsIn, IsOptional, IsString, Matches, MaxLength, MinLength, ValidateBy } from 'class-validator';
import { IsOptionalNotNull } from '../../common/validation';
import { Host, HOST_ADAPTERS, HostAdapter } from '../host.entity';

// Absolute, with no `.` or `..` segment: the folder named is the folder used (no /../../etc).
const ABSOLUTE_PATH = /^(?!.*\/\.{1,2}(\/|$))\/[A-Za-z0-9._/-]{0,255}$/;
const HTTP_URL = /^https?:\/\/[A-Za-z0-9.\-[\]:]+(:\d{1,5})?(\/[A-Za-z0-9._~/-]*)?$/;

/** The libvirt URI rule shared with LIBVIRT_URI and the virsh transport (libs/libvirt libvirt-uri.ts). */
const IsSupportedLibvirtUri = (): PropertyDecorator =>
  ValidateBy({
    name: 'isSupportedLibvirtUri',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && libvirtUriRefusal(value) === null,
      defaultMessage: (args) =>
        `libvirtUri ${typeof args?.value === 'string' ? libvirtUriRefusal(args.value) : 'must be a string'}`,
    },
  });

export class CreateHostDto {
  /** @example "hv-2" */
  @IsString()
  @Matches(/^[a-z0-9][a-z0-9.-]{0,62}$/, { message: 'name must be 1-63 of a-z 0-9 . -' })
  name: string;

  @ApiProperty({ enum: HOST_ADAPTERS, example: 'libvirt' })
  @IsIn(HOST_ADAPTERS)
  adapter: HostAdapter;

  /**
   * libvirt adapter: qemu:///system, qemu:///session or qemu+ssh|tls|tcp://[user@]host[:port]/system|session.
   * Query parameters other than `no_tty`, `mode` and `proxy` are refused: others (`command`,
   * `socket`, `keyfile`, …) can name programs or files.
   * @example "qemu+ssh://limen@hv-2/system"
   */
  @IsOptional()
  @IsSupportedLibvirtUri()
  libvirtUri?: string;

  /** qemu-direct adapter: its state folder on this machine. @example "/var/lib/limen/qemu-direct" */
  @IsOptional()
  @Matches(ABSOLUTE_PATH, { message: 'stateDir must be an absolute path without . or .. segments' })
  stateDir?: string;

  /** @example "http://hv-2:9000" */
  @IsOptional()
  @Matches(HTTP_URL, { message: 'agentUrl must be an http(s) URL' })
  agentUrl?: string;

  /** Write-only; stored encrypted. */
  @IsOptionalNotNull()
  @IsString()
  @MinLength(16)
  @MaxLength(256)
  @Matches(/^[\x21-\x7e]+$/, { message: 'agentToken must be printable ASCII without spaces' })
  agentToken?: string;

  @IsOptionalNotNull()
  @IsBoolean()
  enabled?: boolean;

  /** No new VMs are placed on a host in maintenance. */
  @IsOptionalNotNull()
  @IsBoolean()
  maintenance?: boolean;
}

/**
 * Enable, disable, maintenance, or a new agent; the adapter and its address are fixed. A new
 * agentUrl needs its agentToken in the same body (HostRegistry.update says why).
 */
// skipNullProperties: false — PartialType's own @IsOptional would let `null` through again.
export class UpdateHostDto extends PartialType(
  PickType(CreateHostDto, ['enabled', 'maintenance', 'agentUrl', 'agentToken'] as const),
  { skipNullProperties: false },
) {}

export class HostDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'hv-1' })
  name: string;

  @ApiProperty({ enum: HOST_ADAPTERS })
  adapter: HostAdapter;

  @ApiProperty({ type: String, nullable: true, example: 'qemu:///system' })
  libvirtUri: string | null;

  @ApiProperty({ type: String, nullable: true, example: null })
  stateDir: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'http://127.0.0.1:9000' })
  agentUrl: string | null;

  @ApiProperty({ example: true })
  hasAgentToken: boolean;

  @ApiProperty({ example: true })
  enabled: boolean;

  @ApiProperty({ example: false })
  maintenance: boolean;

  @ApiProperty({ enum: ['up', 'down', 'unknown'], example: 'up' })
  status: string;

  @ApiProperty({ type: String, nullable: true, example: null })
  statusReason: string | null;

  @ApiProperty({ type: 'integer', nullable: true, example: 2 })
  cpus: number | null;

  @ApiProperty({ type: 'integer', nullable: true, example: 24096 })
  memoryMiB: number | null;

  /** vCPUs and memory of the VMs placed on it. */
  @ApiPropertyOptional({
    type: 'object',
    required: ['vcpus', 'memoryMiB', 'vms'],
    properties: { vcpus: { type: 'integer' }, memoryMiB: { type: 'integer' }, vms: { type: 'integer' } },
    example: { vcpus: 2, memoryMiB: 512, vms: 2 },
  })
  allocated?: { vcpus: number; memoryMiB: number; vms: number };

  @ApiProperty({ type: String, nullable: true })
  lastSeenAt: string | null;

  static from(host: Host, allocated?: { vcpus: number; memoryMiB: number; vms: number }): HostDto {
    return {
      id: host.id,
      name: host.name,
      adapter: host.adapter,
      libvirtUri: host.libvirtUri,
      stateDir: host.stateDir,
      agentUrl: host.agentUrl,
      hasAgentToken: host.agentTokenEncrypted !== null,
      enabled: host.enabled,
      maintenance: host.maintenance,
      status: host.status,
      statusReason: host.statusReason,
      cpus: host.cpus,
      memoryMiB: host.memoryMiB,
      allocated,
      lastSeenAt: host.lastSeenAt?.toISOString() ?? null,
    };
  }
}

export class HostPageDto {
  @ApiProperty({ type: [HostDto] })
  items: HostDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}
