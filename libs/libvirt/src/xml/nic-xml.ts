import { DomainNicInfo, NicModel, NicSpec, PortForwardSpec } from '../models';
import { nicAlias, nicIdFromAlias, nicIdFromUserNetdev, userNetdevId } from '../naming/network-name';
import { isIpv4 } from '../networks/ipv4';
import { QEMU_PREFIX, USER_NETDEV_ID } from './qemu-namespace';
import { ATTR, attrOf, childOf, childrenOf, XmlNode } from './xml-codec';

const a = (name: string): string => ATTR + name;

/** QEMU's device driver of each NIC model (libvirt's <model type> uses the model names themselves). */
const QEMU_DRIVERS: Record<NicModel, string> = { virtio: 'virtio-net-pci', e1000e: 'e1000e', rtl8139: 'rtl8139' };

/** `<interface>` of a network or bridge NIC, with the alias it can be unplugged by. */
export function interfaceNode(nic: NicSpec): XmlNode {
  const { attachment } = nic;
  if (attachment.type === 'user') throw new Error('a user-mode NIC has no <interface>');
  const node: XmlNode = {
    [a('type')]: attachment.type,
    source:
      attachment.type === 'network' ? { [a('network')]: attachment.network } : { [a('bridge')]: attachment.bridge },
    mac: { [a('address')]: nic.mac.toLowerCase() },
    model: { [a('type')]: nic.model ?? 'virtio' },
    alias: { [a('name')]: nicAlias(nic.id) },
  };
  if (attachment.type === 'bridge' && attachment.vlan !== undefined)
    node.vlan = { tag: { [a('id')]: String(attachment.vlan) } };
  return node;
}

export function hostfwdOption(forward: PortForwardSpec): string {
  return `hostfwd=${forward.protocol}:${forward.hostAddress}:${forward.hostPort}-:${forward.guestPort}`;
}

/**
 * The QEMU arguments of one user-mode NIC: a restricted slirp netdev with its forwards and a JSON
 * -device. JSON, like libvirt's own -device arguments: QEMU 7.2 creates JSON devices after the
 * key=value ones, so a key=value NIC would take a PCI slot before libvirt's fixed addresses.
 */
export function userNicArgs(nic: NicSpec, bootindex?: number): string[] {
  if (nic.attachment.type !== 'user') throw new Error('not a user-mode NIC');
  const netdevId = userNetdevId(nic.id);
  const forwards = (nic.attachment.portForwards ?? []).map(hostfwdOption);
  const device = {
    driver: QEMU_DRIVERS[nic.model ?? 'virtio'],
    netdev: netdevId,
    id: nicAlias(nic.id),
    mac: nic.mac.toLowerCase(),
    ...(bootindex !== undefined ? { bootindex } : {}),
  };
  return ['-netdev', [`user,id=${netdevId},restrict=on`, ...forwards].join(','), '-device', JSON.stringify(device)];
}

function parseHostfwd(value: string): PortForwardSpec | undefined {
  const match = /^(tcp|udp):([0-9.]*):(\d+)-[0-9.]*:(\d+)$/.exec(value);
  if (!match) return undefined;
  return {
    protocol: match[1] as 'tcp' | 'udp',
    hostAddress: isIpv4(match[2]) ? match[2] : '0.0.0.0',
    hostPort: Number(match[3]),
    guestPort: Number(match[4]),
  };
}

function parseNetdev(value: string): { id: string; forwards: PortForwardSpec[] } | undefined {
  const [type, ...options] = value.split(',');
  if (type !== 'user') return undefined;
  const id = options.find((option) => option.startsWith('id='))?.slice(3);
  if (!id) return undefined;
  const forwards = options
    .filter((option) => option.startsWith('hostfwd='))
    .map((option) => parseHostfwd(option.slice('hostfwd='.length)))
    .filter((forward): forward is PortForwardSpec => forward !== undefined);
  return { id, forwards };
}

function modelOfDriver(driver: unknown): string | undefined {
  const entry = Object.entries(QEMU_DRIVERS).find(([, qemuDriver]) => qemuDriver === driver);
  return entry ? entry[0] : typeof driver === 'string' ? driver : undefined;
}

function commandlineValues(domain: XmlNode): string[] {
  return childrenOf(childOf(domain, `${QEMU_PREFIX}:commandline`), `${QEMU_PREFIX}:arg`).map(
    (arg) => attrOf(arg, 'value') ?? '',
  );
}

/** The JSON `-device` arguments of `<qemu:commandline>`. */
function commandlineDevices(values: string[]): Array<Record<string, unknown>> {
  const devices: Array<Record<string, unknown>> = [];
  values.forEach((value, index) => {
    const next = values[index + 1] ?? '';
    if (value !== '-device' || !next.startsWith('{')) return;
    try {
      devices.push(JSON.parse(next) as Record<string, unknown>);
    } catch {
      // Not one of LIMEN's arguments.
    }
  });
  return devices;
}

/** The `bootindex` of each user-mode NIC device that has one. */
export function userNicBootIndexes(domain: XmlNode): number[] {
  return commandlineDevices(commandlineValues(domain))
    .map((device) => device.bootindex)
    .filter((index): index is number => typeof index === 'number' && index > 0);
}

/** The user-mode NICs LIMEN put into `<qemu:commandline>` (and the single NIC of older definitions). */
export function parseUserNics(domain: XmlNode): DomainNicInfo[] {
  const values = commandlineValues(domain);
  const netdevs = new Map<string, PortForwardSpec[]>();
  values.forEach((value, index) => {
    if (value !== '-netdev') return;
    const netdev = parseNetdev(values[index + 1] ?? '');
    if (netdev) netdevs.set(netdev.id, netdev.forwards);
  });
  return commandlineDevices(values).flatMap((device) => {
    const netdev = typeof device.netdev === 'string' ? device.netdev : '';
    const forwards = netdevs.get(netdev);
    if (!forwards || typeof device.mac !== 'string') return [];
    const id = netdev === USER_NETDEV_ID ? undefined : nicIdFromUserNetdev(netdev);
    const model = modelOfDriver(device.driver);
    return [
      {
        ...(id ? { id } : {}),
        mac: device.mac.toLowerCase(),
        ...(model ? { model } : {}),
        attachment: { type: 'user' as const, ...(forwards.length > 0 ? { portForwards: forwards } : {}) },
      },
    ];
  });
}

/** Network and bridge `<interface>`s; other interface types are reported as neither (skipped). */
export function parseInterfaces(devices: XmlNode): DomainNicInfo[] {
  return childrenOf(devices, 'interface').flatMap((node): DomainNicInfo[] => {
    const type = attrOf(node, 'type');
    const source = childOf(node, 'source');
    const mac = attrOf(childOf(node, 'mac'), 'address')?.toLowerCase();
    if (!mac) return [];
    const id = nicIdFromAlias(attrOf(childOf(node, 'alias'), 'name'));
    const model = attrOf(childOf(node, 'model'), 'type');
    const common = { ...(id ? { id } : {}), mac, ...(model ? { model } : {}) };
    if (type === 'network')
      return [{ ...common, attachment: { type: 'network', network: attrOf(source, 'network') ?? '' } }];
    if (type === 'bridge') {
      const vlan = Number(attrOf(childOf(childOf(node, 'vlan'), 'tag'), 'id'));
      const bridge = attrOf(source, 'bridge') ?? '';
      return [{ ...common, attachment: { type: 'bridge', bridge, ...(vlan > 0 ? { vlan } : {}) } }];
    }
    return [];
  });
}

/** `live` with the port forwards each user-mode NIC has in `config` (matched by id, else MAC). */
export function withForwardsOf(live: DomainNicInfo[], config: DomainNicInfo[]): DomainNicInfo[] {
  return live.map((nic) => {
    if (nic.attachment.type !== 'user') return nic;
    const defined = config.find((other) => (nic.id ? other.id === nic.id : other.mac === nic.mac));
    if (defined?.attachment.type !== 'user') return nic;
    const forwards = defined.attachment.portForwards;
    return { ...nic, attachment: { type: 'user', ...(forwards?.length ? { portForwards: forwards } : {}) } };
  });
}
