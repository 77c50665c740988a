import { HypervisorError } from '../errors/hypervisor-error';
import { DomainSpec, NicSpec, VirtType } from '../models';
import { domainNameFor } from '../naming/domain-name';
import { nicsOf } from '../networks/network-validation';
import { LIMEN_PREFIX, LIMEN_XMLNS } from './limen-metadata';
import { GUEST_AGENT_CHANNEL, QEMU_PREFIX, QEMU_XMLNS } from './qemu-namespace';
import { interfaceNode, userNicArgs } from './nic-xml';
import { BootPlan, bootPlan } from './boot-plan';
import { diskNode } from './disk-xml';
import { CDROM_TARGET, diskTargets, SEED_TARGET, validateDomainSpec } from './spec-validation';
import { ATTR, buildXml, XmlNode } from './xml-codec';

const a = (name: string): string => ATTR + name;

function metadataNode(spec: DomainSpec): XmlNode {
  const instance: XmlNode = {
    [a(`xmlns:${LIMEN_PREFIX}`)]: LIMEN_XMLNS,
    [`${LIMEN_PREFIX}:vmId`]: spec.vmId,
    [`${LIMEN_PREFIX}:ownerId`]: spec.ownerId,
  };
  if (spec.seedIsoPath) instance[`${LIMEN_PREFIX}:seedIso`] = spec.seedIsoPath;
  return { [`${LIMEN_PREFIX}:instance`]: instance };
}

function osNode(spec: DomainSpec, boot: BootPlan): XmlNode {
  const os: XmlNode = {
    type: { [a('arch')]: 'x86_64', [a('machine')]: spec.machine ?? 'q35', '#text': 'hvm' },
  };
  if (spec.kernel) {
    os.kernel = spec.kernel.kernelPath;
    if (spec.kernel.initrdPath) os.initrd = spec.kernel.initrdPath;
    if (spec.kernel.cmdline) os.cmdline = spec.kernel.cmdline;
  } else if (boot.os) {
    os.boot = boot.os.map((dev) => ({ [a('dev')]: dev }));
  }
  return os;
}

function cdromNode(target: string, isoPath: string | undefined, bootOrder?: number): XmlNode {
  const disk: XmlNode = {
    [a('type')]: 'file',
    [a('device')]: 'cdrom',
    driver: { [a('name')]: 'qemu', [a('type')]: 'raw' },
    // virtio-scsi, not SATA: cloud kernels (Debian's linux-image-cloud) have no AHCI driver.
    target: { [a('dev')]: target, [a('bus')]: 'scsi' },
    readonly: '',
  };
  if (isoPath) disk.source = { [a('file')]: isoPath };
  if (bootOrder !== undefined) disk.boot = { [a('order')]: String(bootOrder) };
  return disk;
}

/**
 * User-mode networking (slirp) with restrict=on, as extra QEMU arguments: one -netdev/-device pair
 * per user-mode NIC. Unrestricted slirp turns the guest's gateway (10.0.2.2) into the host's
 * 127.0.0.1, so every guest could open every loopback service of the host. restrict=on drops
 * every connection the guest starts towards the host or beyond (DHCP still answers, and hostfwd
 * forwards still reach the guest), at the price of outbound internet. libvirt 9.0's
 * `<interface type='user'>` cannot set restrict, hence its QEMU namespace.
 */
function qemuCommandlineNode(nics: NicSpec[], boot: BootPlan): XmlNode | undefined {
  const userNics = nics.filter((nic) => nic.attachment.type === 'user');
  if (userNics.length === 0) return undefined;
  // Network boot goes to the first <interface>; without one, the first user-mode NIC takes the
  // network's number (see BootPlan).
  const bootsUserNic = boot.network !== undefined && userNics.length === nics.length;
  const args = userNics.flatMap((nic, index) =>
    userNicArgs(nic, bootsUserNic && index === 0 ? boot.network : undefined),
  );
  return { [`${QEMU_PREFIX}:arg`]: args.map((value) => ({ [a('value')]: value })) };
}

/**
 * On q35 the root bus takes no hot-plugged device: each PCI Express device needs a root port, and
 * libvirt only adds the ports the defined devices use plus one. The ports declared here are that
 * many (an upper bound of what libvirt places behind ports) plus HOTPLUG_PORTS spare ones for disks
 * and NICs plugged into the running domain; beyond those, a plug applies from the next start.
 */
export const HOTPLUG_PORTS = 4;

function pciControllers(spec: DomainSpec, interfaces: number, scsi: boolean): XmlNode[] {
  if ((spec.machine ?? 'q35') !== 'q35') return [];
  const virtioDisks = spec.disks.filter((disk) => disk.bus !== 'scsi').length;
  // USB (qemu-xhci, libvirt's default) and the balloon always; the agent's virtio-serial; the SCSI controller.
  const placed = virtioDisks + interfaces + 2 + (spec.guestAgent === false ? 0 : 1) + (scsi ? 1 : 0);
  return [
    { [a('type')]: 'pci', [a('index')]: '0', [a('model')]: 'pcie-root' },
    ...Array.from({ length: placed + HOTPLUG_PORTS }, () => ({ [a('type')]: 'pci', [a('model')]: 'pcie-root-port' })),
  ];
}

function devicesNode(spec: DomainSpec, nics: NicSpec[], boot: BootPlan): XmlNode {
  const order = (number: number | undefined) => (boot.perDevice ? number : undefined);
  const targets = diskTargets(spec.disks);
  const disks: XmlNode[] = spec.disks.map((disk, index) =>
    diskNode(disk, targets[index], order(boot.disks.get(index))),
  );
  if (spec.cdrom) disks.push(cdromNode(CDROM_TARGET, spec.cdrom.isoPath, order(boot.cdrom)));
  if (spec.seedIsoPath) disks.push(cdromNode(SEED_TARGET, spec.seedIsoPath));
  const scsi = !!spec.cdrom || !!spec.seedIsoPath || spec.disks.some((disk) => disk.bus === 'scsi');
  const interfaces = nics.filter((nic) => nic.attachment.type !== 'user').map(interfaceNode);
  if (interfaces.length > 0 && order(boot.network) !== undefined)
    interfaces[0].boot = { [a('order')]: String(boot.network) };

  const devices: XmlNode = {
    disk: disks,
    controller: [
      ...(scsi ? [{ [a('type')]: 'scsi', [a('index')]: '0', [a('model')]: 'virtio-scsi' }] : []),
      ...pciControllers(spec, interfaces.length, scsi),
    ],
    interface: interfaces,
    // A pty for interactive access plus a log file, so the output is recorded even when no one
    // is attached (QEMU writes the log regardless of the pty).
    serial: [
      {
        [a('type')]: 'pty',
        log: { [a('file')]: spec.serialLogPath, [a('append')]: 'on' },
        target: { [a('port')]: '0' },
      },
    ],
    console: [{ [a('type')]: 'pty', target: { [a('type')]: 'serial', [a('port')]: '0' } }],
    // The QEMU guest agent's virtio-serial port; libvirt picks the socket and reports its state.
    ...(spec.guestAgent === false
      ? {}
      : { channel: [{ [a('type')]: 'unix', target: { [a('type')]: 'virtio', [a('name')]: GUEST_AGENT_CHANNEL } }] }),
    // A video device even without VNC, so screenshots always have a display to capture.
    video: [{ model: { [a('type')]: 'vga', [a('vram')]: '16384', [a('heads')]: '1' } }],
    memballoon: { [a('model')]: 'virtio' },
  };
  if (spec.vnc?.enabled) {
    // A unix socket whose path libvirt generates in the domain's private folder (0750, owned by
    // QEMU's user): only root and QEMU's user can open it, the api relays it to authorised users.
    const graphics: XmlNode = {
      [a('type')]: 'vnc',
      listen: { [a('type')]: 'socket' },
    };
    if (spec.vnc.password) graphics[a('passwd')] = spec.vnc.password;
    devices.graphics = [graphics];
  }
  return devices;
}

export interface BuildDomainXmlOptions {
  /** Written as `<uuid>`: redefining an existing domain must keep its UUID. */
  uuid?: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Builds libvirt domain XML for a LIMEN VM. Every value goes through the XML library. */
export function buildDomainXml(spec: DomainSpec, virtType: VirtType, options: BuildDomainXmlOptions = {}): string {
  validateDomainSpec(spec);
  const maxVcpus = spec.maxVcpus ?? spec.vcpus;
  const nics = nicsOf(spec);
  const boot = bootPlan(spec);
  if (options.uuid !== undefined && !UUID_RE.test(options.uuid)) {
    throw new HypervisorError('INVALID_ARGUMENT', `not a domain UUID: ${options.uuid}`);
  }
  const domain: XmlNode = {
    [a('type')]: virtType,
    name: domainNameFor(spec.vmId),
    ...(options.uuid !== undefined ? { uuid: options.uuid } : {}),
    metadata: metadataNode(spec),
    memory: { [a('unit')]: 'MiB', '#text': String(spec.maxMemoryMiB ?? spec.memoryMiB) },
    currentMemory: { [a('unit')]: 'MiB', '#text': String(spec.memoryMiB) },
    vcpu: { [a('placement')]: 'static', [a('current')]: String(spec.vcpus), '#text': String(maxVcpus) },
    os: osNode(spec, boot),
    features: { acpi: '', apic: '' },
    clock: { [a('offset')]: 'utc' },
    on_poweroff: 'destroy',
    on_reboot: 'restart',
    on_crash: 'destroy',
    devices: devicesNode(spec, nics, boot),
  };
  if (spec.title !== undefined) domain.title = spec.title;
  if (spec.description !== undefined) domain.description = spec.description;
  // host-passthrough only makes sense with hardware virtualisation; TCG emulates its own CPU.
  if (virtType === 'kvm') domain.cpu = { [a('mode')]: 'host-passthrough' };
  const commandline = qemuCommandlineNode(nics, boot);
  if (commandline) {
    domain[a(`xmlns:${QEMU_PREFIX}`)] = QEMU_XMLNS;
    domain[`${QEMU_PREFIX}:commandline`] = commandline;
  }
  return buildXml({ domain });
}
