import { HypervisorError } from '../../errors/hypervisor-error';
import { DomainSpec, VirtType } from '../../models';
import { domainNameFor } from '../../naming/domain-name';
import { nicsOf } from '../../networks/network-validation';
import { GUEST_AGENT_CHANNEL } from '../../xml/qemu-namespace';
import { BootPlan, bootPlan } from '../../xml/boot-plan';
import { CDROM_TARGET, diskTargets, SEED_TARGET, scsiUnitOf, validateDomainSpec } from '../../xml/spec-validation';
import { diskBlockdev, diskDeviceProps, diskPortArgv, diskPortId, SCSI_CONTROLLER_ID } from './disk-argv';
import { assertNicsSupported, BridgeMode, nicArgv, nicPortArgv } from './nic-argv';

export interface QemuLaunchPaths {
  qmpSocket: string;
  pidFile: string;
  /** The VNC server's unix socket (required when the spec enables VNC). */
  vncSocket?: string;
  /** File holding the VNC password (QEMU reads it; it never appears on the command line). */
  vncSecretFile?: string;
  /** The guest agent's chardev socket (required unless the spec turns the agent off). */
  qgaSocket?: string;
}

export interface QemuLaunchOptions {
  /** How bridge NICs reach their bridge (see BridgeAccess). Default `helper`. */
  bridgeMode?: BridgeMode;
}

/** QEMU's device id of the guest agent's virtio-serial port (VSERPORT_CHANGE events name it). */
export const GUEST_AGENT_PORT_ID = 'limen-qga0';

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

/**
 * The qemu-system-x86_64 command line for a spec. argv only: it is passed to spawn without a
 * shell. QEMU daemonizes, keeps running after a guest power-off (-no-shutdown, so the adapter
 * can implement ACPI reboot), and talks QMP on a unix socket.
 */
export function buildQemuArgv(
  spec: DomainSpec,
  virtType: VirtType,
  paths: QemuLaunchPaths,
  options: QemuLaunchOptions = {},
): string[] {
  validateDomainSpec(spec);
  const nics = nicsOf(spec);
  assertNicsSupported(nics);
  const boot = bootPlan(spec);
  const machine = spec.machine ?? 'q35';
  return [
    ...machineArgv(spec, virtType, paths),
    // Before any device QEMU places itself: the ports' fixed slots must still be free.
    ...diskPortArgv(machine, spec.disks),
    ...scsiControllerArgv(spec),
    ...diskArgv(spec, boot),
    ...cdromArgv(spec, boot),
    ...nicPortArgv(machine),
    ...nicArgv(spec.vmId, nics, {
      machine,
      bridgeMode: options.bridgeMode ?? 'helper',
      networkBootIndex: boot.network,
    }),
    ...guestAgentArgv(spec, paths),
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
    // The pty keeps interactive access possible; logfile records everything regardless.
    '-chardev',
    `pty,id=serial0,logfile=${qemuOptionValue(spec.serialLogPath)},logappend=on`,
    '-serial',
    'chardev:serial0',
  ];
  if (virtType === 'kvm') argv.push('-cpu', 'host');
  return argv;
}

/** Whether the domain needs the virtio-scsi controller: a CD-ROM, a seed or a SCSI disk. */
export function needsScsiController(spec: DomainSpec): boolean {
  return !!spec.cdrom || !!spec.seedIsoPath || spec.disks.some((disk) => disk.bus === 'scsi');
}

/** virtio-scsi, not SATA: cloud kernels (Debian's linux-image-cloud) have no AHCI driver, so a SATA seed would go unread. */
function scsiControllerArgv(spec: DomainSpec): string[] {
  return needsScsiController(spec) ? ['-device', `virtio-scsi-pci,id=${SCSI_CONTROLLER_ID}`] : [];
}

/**
 * Disks with an id: a -blockdev node and a JSON -device named after the id (`ua-disk-<id>`), a
 * virtio one on a disk port of its own (q35), so each can be unplugged, grown (block_resize of its
 * node) and told apart by the guest (serial). Disks without one keep the -drive of older specs.
 */
function diskArgv(spec: DomainSpec, boot: BootPlan): string[] {
  const targets = diskTargets(spec.disks);
  let port = 0;
  return spec.disks.flatMap((disk, index) => {
    const target = targets[index];
    const bootindex = boot.disks.get(index);
    const { id } = disk;
    if (id !== undefined) {
      const onPort = disk.bus !== 'scsi' && (spec.machine ?? 'q35') === 'q35';
      const device = diskDeviceProps(
        { ...disk, id },
        disk.bus === 'scsi' ? { scsiTarget: target } : onPort ? { port: diskPortId(port++) } : {},
        bootindex,
      );
      return ['-blockdev', JSON.stringify(diskBlockdev({ ...disk, id })), '-device', JSON.stringify(device)];
    }
    const placement =
      disk.bus === 'scsi'
        ? `scsi-hd,bus=${SCSI_CONTROLLER_ID}.0,scsi-id=${scsiUnitOf(target)},lun=0`
        : 'virtio-blk-pci';
    return [
      '-drive',
      driveOptions({ file: disk.path, format: disk.format ?? 'qcow2', if: 'none', id: `drive-${target}` }),
      '-device',
      `${placement},drive=drive-${target},id=${target}${bootindex !== undefined ? `,bootindex=${bootindex}` : ''}`,
    ];
  });
}

/** The CD-ROM drive (media optional) and the seed ISO, on the virtio-scsi controller. */
function cdromArgv(spec: DomainSpec, boot: BootPlan): string[] {
  const cdroms: Array<[string, string | undefined, number]> = [];
  if (spec.cdrom) cdroms.push([CDROM_TARGET, spec.cdrom.isoPath, 0]);
  if (spec.seedIsoPath) cdroms.push([SEED_TARGET, spec.seedIsoPath, 1]);
  return cdroms.flatMap(([target, isoPath, scsiId]) => {
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
      `scsi-cd,bus=${SCSI_CONTROLLER_ID}.0,scsi-id=${scsiId},lun=0,drive=drive-${target},id=${target}${bootindex}`,
    ];
  });
}

/** The org.qemu.guest_agent.0 virtio-serial port, its chardev a unix socket QEMU listens on. */
function guestAgentArgv(spec: DomainSpec, paths: QemuLaunchPaths): string[] {
  if (spec.guestAgent === false) return [];
  if (!paths.qgaSocket) throw new HypervisorError('INVALID_ARGUMENT', 'the guest agent needs a socket path');
  return [
    '-chardev',
    `socket,id=qga0,path=${qemuOptionValue(paths.qgaSocket)},server=on,wait=off`,
    '-device',
    'virtio-serial-pci,id=virtio-serial0',
    '-device',
    `virtserialport,bus=virtio-serial0.0,chardev=qga0,name=${GUEST_AGENT_CHANNEL},id=${GUEST_AGENT_PORT_ID}`,
  ];
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
