import { HypervisorError } from '../../errors/hypervisor-error';
import { DomainSpec, VirtType } from '../../models';
import { domainNameFor } from '../../naming/domain-name';
import { nicsOf } from '../../networks/network-validation';
import { hostfwdOption } from '../../xml/nic-xml';
import { CDROM_TARGET, SEED_TARGET, validateDomainSpec, virtioTarget } from '../../xml/spec-validation';

export interface QemuLaunchPaths {
  qmpSocket: string;
  pidFile: string;
  /** The VNC server's unix socket (required when the spec enables VNC). */
  vncSocket?: string;
  /** File holding the VNC password (QEMU reads it; it never appears on the command line). */
  vncSecretFile?: string;
}

/**
 * QEMU option values are comma-separated key=value lists; a literal comma is written as ",,".
 * Paths and names come from specs, so every value placed in such a list goes through this.
 */
export function qemuOptionValue(value: string): string {
  return value.replace(/,/g, ',,');
}

function driveOptions(parts: Record<string, string | undefined>): string {
  return Object.entries(parts)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${qemuOptionValue(value as string)}`)
    .join(',');
}

/** Boot priority of each device kind for firmware boot (lower boots first). */
function bootIndexes(spec: DomainSpec): Record<string, number> {
  const order = spec.kernel ? [] : (spec.bootOrder ?? ['hd']);
  return Object.fromEntries(order.map((device, index) => [device, index + 1]));
}

/**
 * The qemu-system-x86_64 command line for a spec. argv only: it is passed to spawn without a
 * shell. QEMU daemonizes, keeps running after a guest power-off (-no-shutdown, so the adapter
 * can implement ACPI reboot), and talks QMP on a unix socket.
 */
export function buildQemuArgv(spec: DomainSpec, virtType: VirtType, paths: QemuLaunchPaths): string[] {
  validateDomainSpec(spec);
  const boot = bootIndexes(spec);
  return [
    ...machineArgv(spec, virtType, paths),
    ...diskArgv(spec, boot),
    ...cdromArgv(spec, boot),
    ...networkArgv(spec, boot),
    ...vncArgv(spec, paths),
    ...kernelArgv(spec),
  ];
}

/** The machine, its fixed devices, QMP and the serial port. */
function machineArgv(spec: DomainSpec, virtType: VirtType, paths: QemuLaunchPaths): string[] {
  const name = domainNameFor(spec.vmId);
  const maxVcpus = spec.maxVcpus ?? spec.vcpus;
  const argv = [
    '-name',
    `${name},process=${name}`,
    '-nodefaults',
    '-no-user-config',
    '-machine',
    `${spec.machine ?? 'q35'},accel=${virtType === 'kvm' ? 'kvm' : 'tcg'}`,
    '-m',
    `${spec.maxMemoryMiB ?? spec.memoryMiB}M`,
    '-smp',
    `cpus=${spec.vcpus},maxcpus=${maxVcpus}`,
    '-qmp',
    `unix:${qemuOptionValue(paths.qmpSocket)},server=on,wait=off`,
    '-pidfile',
    paths.pidFile,
    '-daemonize',
    '-no-shutdown',
    '-display',
    'none',
    '-device',
    'VGA',
    '-device',
    'virtio-balloon-pci,id=balloon0',
    '-device',
    'ich9-ahci,id=sata0',
    // The pty keeps interactive access possible; logfile records everything regardless.
    '-chardev',
    `pty,id=serial0,logfile=${qemuOptionValue(spec.serialLogPath)},logappend=on`,
    '-serial',
    'chardev:serial0',
  ];
  if (virtType === 'kvm') argv.push('-cpu', 'host');
  return argv;
}

function diskArgv(spec: DomainSpec, boot: Record<string, number>): string[] {
  return spec.disks.flatMap((disk, index) => {
    const target = virtioTarget(index);
    const bootindex = index === 0 && boot.hd ? `,bootindex=${boot.hd}` : '';
    return [
      '-drive',
      driveOptions({ file: disk.path, format: disk.format ?? 'qcow2', if: 'none', id: `drive-${target}` }),
      '-device',
      `virtio-blk-pci,drive=drive-${target},id=${target}${bootindex}`,
    ];
  });
}

/** The CD-ROM drive (media optional) and the seed ISO, on the SATA controller. */
function cdromArgv(spec: DomainSpec, boot: Record<string, number>): string[] {
  const cdroms: Array<[string, string | undefined, number]> = [];
  if (spec.cdrom) cdroms.push([CDROM_TARGET, spec.cdrom.isoPath, 0]);
  if (spec.seedIsoPath) cdroms.push([SEED_TARGET, spec.seedIsoPath, 1]);
  return cdroms.flatMap(([target, isoPath, port]) => {
    const bootindex = target === CDROM_TARGET && boot.cdrom ? `,bootindex=${boot.cdrom}` : '';
    return [
      '-drive',
      driveOptions({
        file: isoPath,
        format: isoPath ? 'raw' : undefined,
        if: 'none',
        id: `drive-${target}`,
        media: 'cdrom',
        readonly: 'on',
      }),
      '-device',
      `ide-cd,bus=sata0.${port},drive=drive-${target},id=${target}${bootindex}`,
    ];
  });
}

function networkArgv(spec: DomainSpec, boot: Record<string, number>): string[] {
  // Without libvirt there are no libvirt networks: a NIC uses a host bridge (through
  // qemu-bridge-helper, which must allow it in /etc/qemu/bridge.conf) or user-mode networking.
  // User-mode networking gets restrict=on: unrestricted slirp maps the guest's gateway to the
  // host's 127.0.0.1, opening every loopback service of the host to the guest.
  return nicsOf(spec).flatMap((nic, index) => {
    const id = `net${index}`;
    const { attachment } = nic;
    if (attachment.type === 'network')
      throw new HypervisorError('UNSUPPORTED', 'qemu-direct has no libvirt networks: use a bridge or user-mode NIC');
    const netdev =
      attachment.type === 'bridge'
        ? `bridge,id=${id},br=${qemuOptionValue(attachment.bridge)}`
        : [`user,id=${id},restrict=on`, ...(attachment.portForwards ?? []).map(hostfwdOption)].join(',');
    const bootindex = index === 0 && boot.network ? `,bootindex=${boot.network}` : '';
    const driver = nic.model === 'e1000e' || nic.model === 'rtl8139' ? nic.model : 'virtio-net-pci';
    return ['-netdev', netdev, '-device', `${driver},netdev=${id},mac=${nic.mac},id=${id}${bootindex}`];
  });
}

function vncArgv(spec: DomainSpec, paths: QemuLaunchPaths): string[] {
  if (!spec.vnc?.enabled) return [];
  if (!paths.vncSocket) throw new HypervisorError('INVALID_ARGUMENT', 'VNC needs a socket path');
  const argv: string[] = [];
  // A unix socket in a 0700 folder, never a TCP port: a loopback port is open to every local user.
  let vnc = `unix:${qemuOptionValue(paths.vncSocket)}`;
  if (spec.vnc.password && paths.vncSecretFile) {
    argv.push('-object', `secret,id=vncsecret,format=raw,file=${qemuOptionValue(paths.vncSecretFile)}`);
    vnc += ',password-secret=vncsecret';
  }
  return [...argv, '-vnc', vnc];
}

function kernelArgv(spec: DomainSpec): string[] {
  if (!spec.kernel) return [];
  const argv = ['-kernel', spec.kernel.kernelPath];
  if (spec.kernel.initrdPath) argv.push('-initrd', spec.kernel.initrdPath);
  if (spec.kernel.cmdline) argv.push('-append', spec.kernel.cmdline);
  return argv;
}
