import { createHash } from 'node:crypto';
import { HypervisorError } from '../../errors/hypervisor-error';
import { MachineType, NicModel, NicSpec, PortForwardSpec } from '../../models';
import { assertNicId, nicAlias, userNetdevId } from '../../naming/network-name';
import { MAX_NICS } from '../../networks/network-validation';

/**
 * How a bridge NIC reaches its host bridge. `tap`: QEMU opens a tap device of a name LIMEN
 * chooses and the adapter enslaves it to the bridge (needs root); `helper`: QEMU's setuid
 * qemu-bridge-helper does both, for the bridges /etc/qemu/bridge.conf allows.
 */
export type BridgeMode = 'tap' | 'helper';

export const LIBVIRT_NETWORKS_UNSUPPORTED =
  'qemu-direct hosts cannot use libvirt networks (nat/isolated); use user or bridge';

const QEMU_DRIVERS: Record<NicModel, string> = { virtio: 'virtio-net-pci', e1000e: 'e1000e', rtl8139: 'rtl8139' };

/**
 * On q35, PCI Express root ports reserved for NICs: the root bus itself takes no hot-plugged
 * device, so each NIC sits on a port of its own and a hot-plugged one takes a free port.
 */
export function nicPortId(index: number): string {
  return `limen-nicport${index}`;
}

export function nicPortArgv(machine: MachineType): string[] {
  if (machine !== 'q35') return [];
  return Array.from({ length: MAX_NICS }, (_, index) => [
    '-device',
    `pcie-root-port,id=${nicPortId(index)},bus=pcie.0,chassis=${index + 1}`,
  ]).flat();
}

/** QEMU's id of a bridge NIC's backend (a tap, opened by QEMU or by qemu-bridge-helper). */
export function tapNetdevId(nicId: string): string {
  assertNicId(nicId);
  return `limen-tap-${nicId}`;
}

/** QEMU's id of a NIC's backend. */
export function netdevIdOf(nic: NicSpec): string {
  return nic.attachment.type === 'user' ? userNetdevId(nic.id) : tapNetdevId(nic.id);
}

/** The tap device of a bridge NIC in `tap` mode: 15 characters (IFNAMSIZ), derived from both ids. */
export function tapNameOf(vmId: string, nicId: string): string {
  return `lqt${createHash('sha256').update(`${vmId}/${nicId}`).digest('hex').slice(0, 12)}`;
}

/** What hostfwd_add takes and a `hostfwd=` option holds: `tcp:127.0.0.1:20022-:22`. */
export function hostfwdRule(forward: PortForwardSpec): string {
  return `${forward.protocol}:${forward.hostAddress}:${forward.hostPort}-:${forward.guestPort}`;
}

/** What hostfwd_remove takes to name a rule: `tcp:127.0.0.1:20022`. */
export function hostfwdKey(forward: PortForwardSpec): string {
  return `${forward.protocol}:${forward.hostAddress}:${forward.hostPort}`;
}

function unsupportedAttachment(): never {
  throw new HypervisorError('UNSUPPORTED', LIBVIRT_NETWORKS_UNSUPPORTED);
}

/** The `-netdev` value of a NIC (ids and names are validated: no commas can appear). */
export function netdevOption(vmId: string, nic: NicSpec, bridgeMode: BridgeMode): string {
  const id = netdevIdOf(nic);
  const { attachment } = nic;
  switch (attachment.type) {
    case 'user':
      // restrict=on: unrestricted slirp maps the guest's gateway to the host's 127.0.0.1, opening
      // every loopback service of the host to the guest. Forwards still reach the guest.
      return [
        `user,id=${id},restrict=on`,
        ...(attachment.portForwards ?? []).map((f) => `hostfwd=${hostfwdRule(f)}`),
      ].join(',');
    case 'bridge':
      return bridgeMode === 'tap'
        ? `tap,id=${id},ifname=${tapNameOf(vmId, nic.id)},script=no,downscript=no`
        : `bridge,id=${id},br=${attachment.bridge}`;
    default:
      return unsupportedAttachment();
  }
}

/** QMP netdev_add arguments of a NIC (the same backend as netdevOption). */
export function netdevAddArgs(vmId: string, nic: NicSpec, bridgeMode: BridgeMode): Record<string, unknown> {
  const id = netdevIdOf(nic);
  const { attachment } = nic;
  switch (attachment.type) {
    case 'user':
      return {
        type: 'user',
        id,
        restrict: true,
        hostfwd: (attachment.portForwards ?? []).map((f) => ({ str: hostfwdRule(f) })),
      };
    case 'bridge':
      return bridgeMode === 'tap'
        ? { type: 'tap', id, ifname: tapNameOf(vmId, nic.id), script: 'no', downscript: 'no' }
        : { type: 'bridge', id, br: attachment.bridge };
    default:
      return unsupportedAttachment();
  }
}

/** The NIC device's properties, as `-device` key=value or as QMP device_add arguments. */
export function nicDeviceProps(nic: NicSpec, options: { bus?: string; bootindex?: number } = {}) {
  return {
    driver: QEMU_DRIVERS[nic.model ?? 'virtio'],
    netdev: netdevIdOf(nic),
    mac: nic.mac.toLowerCase(),
    id: nicAlias(nic.id),
    ...(options.bus ? { bus: options.bus } : {}),
    ...(options.bootindex !== undefined ? { bootindex: options.bootindex } : {}),
  };
}

/** -netdev/-device pairs of every NIC, in order; the first one boots when the boot order says `network`. */
export function nicArgv(
  vmId: string,
  nics: NicSpec[],
  options: { machine: MachineType; bridgeMode: BridgeMode; networkBootIndex?: number },
): string[] {
  return nics.flatMap((nic, index) => {
    const { driver, ...props } = nicDeviceProps(nic, {
      ...(options.machine === 'q35' ? { bus: nicPortId(index) } : {}),
      ...(index === 0 && options.networkBootIndex ? { bootindex: options.networkBootIndex } : {}),
    });
    const device = [driver, ...Object.entries(props).map(([key, value]) => `${key}=${value}`)].join(',');
    return ['-netdev', netdevOption(vmId, nic, options.bridgeMode), '-device', device];
  });
}

/** Refuses the attachments qemu-direct cannot give a guest (libvirt networks). */
export function assertNicsSupported(nics: NicSpec[]): void {
  if (nics.some((nic) => nic.attachment.type === 'network')) unsupportedAttachment();
}
