import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsInt, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { IsFreeText } from '../../common/free-text';
import { IsOptionalNotNull } from '../../common/validation';
import { Network, NETWORK_KINDS, NetworkKind } from '../network.entity';
import { BRIDGE_NAME, NETWORK_NAME } from '../network-addresses';

/** Dotted-quad characters only here; the service checks the address itself (ipaddr.js). */
const IPV4_TEXT = /^\d{1,3}(\.\d{1,3}){3}$/;
const CIDR_TEXT = /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/;

export class CreateNetworkDto {
  /**
   * Unique: 1-63 of a-z 0-9 -, starting alphanumeric.
   * @example "lab"
   */
  @IsString()
  @Matches(NETWORK_NAME, { message: 'name must be 1-63 characters of a-z 0-9 -, starting with a letter or digit' })
  name: string;

  /**
   * `nat`: own subnet, DHCP and NAT to the outside; `isolated`: own subnet and DHCP, no forwarding;
   * `bridge`: an existing host bridge; `user`: QEMU user-mode networking (reachable through port forwards).
   */
  @ApiProperty({ enum: NETWORK_KINDS, example: 'isolated' })
  @IsIn(NETWORK_KINDS)
  kind: NetworkKind;

  /**
   * Free text, up to 1 KiB.
   * @example "lab machines"
   */
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(1024)
  @IsFreeText()
  description?: string;

  /**
   * nat and isolated (required there): the IPv4 subnet, /16 to /29, given by its network address.
   * It may not overlap another network's or a route of a host.
   * @example "10.77.0.0/24"
   */
  @IsOptionalNotNull()
  @IsString()
  @Matches(CIDR_TEXT, { message: 'cidr must be an IPv4 subnet like 10.77.0.0/24' })
  cidr?: string;

  /**
   * nat and isolated: the host's address on the network (default: the first host address).
   * @example "10.77.0.1"
   */
  @IsOptionalNotNull()
  @IsString()
  @Matches(IPV4_TEXT, { message: 'gateway must be an IPv4 address' })
  gateway?: string;

  /**
   * nat and isolated: first DHCP address (default: the one after the gateway).
   * @example "10.77.0.2"
   */
  @IsOptionalNotNull()
  @IsString()
  @Matches(IPV4_TEXT, { message: 'dhcpStart must be an IPv4 address' })
  dhcpStart?: string;

  /**
   * nat and isolated: last DHCP address (default: the last host address).
   * @example "10.77.0.254"
   */
  @IsOptionalNotNull()
  @IsString()
  @Matches(IPV4_TEXT, { message: 'dhcpEnd must be an IPv4 address' })
  dhcpEnd?: string;

  /**
   * bridge (required there): an existing bridge on every host, 1-15 of A-Z a-z 0-9 _ . -.
   * @example "br0"
   */
  @IsOptionalNotNull()
  @IsString()
  @Matches(BRIDGE_NAME, { message: 'bridge must be 1-15 characters of A-Z a-z 0-9 _ . -, starting alphanumeric' })
  bridge?: string;

  /**
   * bridge only: the VLAN tag of its NICs, 1-4094.
   * @example 42
   */
  @ApiPropertyOptional({ type: 'integer' })
  @IsOptionalNotNull()
  @IsInt()
  @Min(1)
  @Max(4094)
  vlan?: number;

  /** Whether every user may attach VMs to it (otherwise admins only). */
  @ApiPropertyOptional({ default: true })
  @IsOptionalNotNull()
  @IsBoolean()
  public?: boolean;
}

export class NetworkDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'lab' })
  name: string;

  @ApiProperty({ enum: NETWORK_KINDS, example: 'isolated' })
  kind: NetworkKind;

  @ApiProperty({ example: 'lab machines' })
  description: string;

  @ApiProperty({ type: String, nullable: true, example: '10.77.0.0/24' })
  cidr: string | null;

  @ApiProperty({ type: String, nullable: true, example: '10.77.0.1' })
  gateway: string | null;

  @ApiProperty({ type: String, nullable: true, example: '10.77.0.2' })
  dhcpStart: string | null;

  @ApiProperty({ type: String, nullable: true, example: '10.77.0.254' })
  dhcpEnd: string | null;

  /** bridge: the host bridge; nat and isolated: the bridge libvirt made for it. */
  @ApiProperty({ type: String, nullable: true, example: 'lnbr-0a1b2c3d' })
  bridge: string | null;

  @ApiProperty({ type: 'integer', nullable: true, example: null })
  vlan: number | null;

  @ApiProperty({ example: true })
  public: boolean;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  createdAt: string;

  static from(n: Network): NetworkDto {
    return {
      id: n.id,
      name: n.name,
      kind: n.kind,
      description: n.description,
      cidr: n.cidr,
      gateway: n.gateway,
      dhcpStart: n.dhcpStart,
      dhcpEnd: n.dhcpEnd,
      bridge: n.bridge,
      vlan: n.vlan,
      public: n.public,
      createdAt: n.createdAt.toISOString(),
    };
  }
}

export class NetworkPageDto {
  @ApiProperty({ type: [NetworkDto] })
  items: NetworkDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}
