/**
 * Networking of LIMEN domains: NICs, the libvirt networks LIMEN manages, port forwards of user-mode
 * NICs, guest addresses and the QEMU guest agent. Names given here (network, bridge) are checked by
 * the adapters before they reach XML or a command line; the api derives them, never from user text
 * except a bridge's name, which an admin gives and the api validates first.
 */

export type NicModel = 'virtio' | 'e1000e' | 'rtl8139';
export type PortProtocol = 'tcp' | 'udp';

/** A host port (on `hostAddress`, default 127.0.0.1) forwarded to `guestPort` of a user-mode NIC. */
export interface PortForwardSpec {
  protocol: PortProtocol;
  hostAddress: string;
  hostPort: number;
  guestPort: number;
}

export type NicAttachment =
  /** A libvirt network LIMEN defined with ensureNetwork (nat or isolated). Libvirt adapter only. */
  | { type: 'network'; network: string }
  /** An existing host bridge, optionally on a VLAN (tagged by the host's bridge with `vlan`). */
  | { type: 'bridge'; bridge: string; vlan?: number }
  /** QEMU user-mode networking (slirp, restrict=on): no host setup; reachable only through forwards. */
  | { type: 'user'; portForwards?: PortForwardSpec[] };

export interface NicSpec {
  /** LIMEN NIC id (a UUID). The device alias derives from it, so the NIC can be unplugged by id. */
  id: string;
  /** Unicast, lower-case `xx:xx:xx:xx:xx:xx`. */
  mac: string;
  /** Default `virtio`. */
  model?: NicModel;
  attachment: NicAttachment;
}

/** A NIC as the hypervisor has it. `id` is undefined for NICs LIMEN did not add by id. */
export interface DomainNicInfo {
  id?: string;
  mac: string;
  model?: string;
  attachment: NicAttachment;
}

export type ManagedNetworkKind = 'nat' | 'isolated';

/** A libvirt network LIMEN defines on a host: its own bridge, IPv4 subnet and DHCP range. */
export interface NetworkDefinition {
  /** libvirt network name, `limen-net-…` (derived by the api, checked by the adapter). */
  name: string;
  kind: ManagedNetworkKind;
  /** Host bridge libvirt creates for it: at most 15 characters of a-z 0-9 - (Linux IFNAMSIZ). */
  bridge: string;
  /** IPv4 subnet, e.g. `10.77.0.0/24`. */
  cidr: string;
  /** The host's address on the bridge, inside `cidr`; the guests' gateway (nat) and DHCP server. */
  gateway: string;
  dhcpStart: string;
  dhcpEnd: string;
}

export interface NetworkInfo extends NetworkDefinition {
  active: boolean;
}

export interface DhcpLease {
  mac: string;
  ip: string;
  prefix: number;
  hostname?: string;
  expiresAt?: Date;
}

export type AddressSource = 'lease' | 'agent' | 'arp';

export interface InterfaceAddress {
  mac: string;
  ip: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
  /** The guest's name for the interface, when the source knows it (the agent does). */
  name?: string;
}

/** `absent`: the domain has no agent channel; `disconnected`: the channel exists but no agent answers. */
export type GuestAgentState = 'connected' | 'disconnected' | 'absent';

export interface GuestOsInfo {
  /** e.g. "Debian GNU/Linux". */
  name: string;
  /** e.g. "12 (bookworm)". */
  version: string;
  /** Kernel release, e.g. "6.1.0-28-cloud-amd64". */
  kernel: string;
}

export interface GuestInfo {
  os: GuestOsInfo;
  hostname?: string;
}

export interface GuestExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}
