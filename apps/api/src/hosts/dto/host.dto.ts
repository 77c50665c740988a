import { ApiProperty, ApiPropertyOptional, PartialType, PickType } from '@nestjs/swagger';
import { libvirtUriRefusal } from '@limen/libvirt';
import { IsBoolean, IsIn, IsOptional, IsString, Matches, MaxLength, MinLength, ValidateBy } from 'class-validator';
import { IsOptionalNotNull } from '../../common/validation';
import { HOST_ADAPTERS, HostAdapter } from '../host.entity';
import type { HostView } from '../host-registry';

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

  /**
   * Folder of the host's VM pool (`limen-vms`) on that host: an absolute, normalised path inside
   * one of STORAGE_ROOTS (400 otherwise). Default: VM_DIR for a host on this machine (qemu-direct,
   * qemu:///…), `<first STORAGE_ROOT>/pool` for any other. Fixed once registered.
   * @example "/var/lib/limen/pool"
   */
  @IsOptionalNotNull()
  @IsString()
  storagePath?: string;

  /**
   * The host's metrics agent. A qemu-direct host runs on this machine, so its agent must too
   * (a loopback address or one of this machine's).
   * @example "http://hv-2:9000"
   */
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

export class StoragePoolDto {
  @ApiProperty({ example: 'limen-vms' })
  name: string;

  /** dir (what LIMEN creates); logical or netfs when an admin defined it so. */
  @ApiProperty({ example: 'dir' })
  type: string;

  /** Its folder on the host. */
  @ApiProperty({ example: '/var/lib/limen/vms' })
  path: string;

  @ApiProperty({ example: true })
  active: boolean;

  @ApiProperty({ type: 'integer', format: 'int64', example: 107374182400 })
  capacityBytes: number;

  @ApiProperty({ type: 'integer', format: 'int64', example: 21474836480 })
  allocationBytes: number;

  @ApiProperty({ type: 'integer', format: 'int64', example: 85899345920 })
  availableBytes: number;
}

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

  /** Folder of the host's VM pool on that host (VM_DIR for a host on the api's machine unless set). */
  @ApiProperty({ example: '/var/lib/limen/vms' })
  storagePath: string;

  /**
   * The host's LIMEN storage pools: read from the host on GET /hosts/{id} (when it answers within
   * 3 s), otherwise (and in the list) as the host monitor last read them, at `storageCheckedAt`.
   * Empty when never read.
   */
  @ApiProperty({ type: [StoragePoolDto] })
  storagePools: StoragePoolDto[];

  @ApiProperty({ type: String, nullable: true, example: '2025-01-01T00:00:00.000Z' })
  storageCheckedAt: string | null;

  /** Why the host's VM pool could not be set up or read at the last reading (no VM can be created there then). */
  @ApiProperty({ type: String, nullable: true, example: null })
  storageProblem: string | null;

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

  /** `view.storage`: a live reading where there is one, else what the monitor recorded. */
  static from(view: HostView, allocated?: { vcpus: number; memoryMiB: number; vms: number }): HostDto {
    const { host, storagePath, storage } = view;
    return {
      id: host.id,
      name: host.name,
      adapter: host.adapter,
      libvirtUri: host.libvirtUri,
      stateDir: host.stateDir,
      agentUrl: host.agentUrl,
      storagePath,
      storagePools: (storage?.pools ?? []).map(
        ({ name, type, path, active, capacityBytes, allocationBytes, availableBytes }) => ({
          name,
          type,
          path,
          active,
          capacityBytes,
          allocationBytes,
          availableBytes,
        }),
      ),
      storageCheckedAt: storage?.checkedAt ?? null,
      storageProblem: storage?.problem ?? null,
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
