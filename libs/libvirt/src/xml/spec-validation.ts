import { isAbsolute } from 'node:path';
import { HypervisorError } from '../errors/hypervisor-error';
import { DiskBus, DiskSpec, DomainDiskInfo, DomainSpec } from '../models';
import { assertDiskId } from '../naming/disk-name';
import { assertVmId } from '../naming/domain-name';
import { validateNics } from '../networks/network-validation';

function invalid(message: string): never {
  throw new HypervisorError('INVALID_ARGUMENT', message);
}

export function assertAbsolutePath(label: string, path: string): void {
  if (!isAbsolute(path) || path.includes('\0')) invalid(`${label} must be an absolute path`);
}

function assertPositiveInteger(label: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 1 || value > max) invalid(`${label} must be an integer between 1 and ${max}`);
}

/** Checks a spec before any adapter turns it into XML or a QEMU command line. */
export function validateDomainSpec(spec: DomainSpec): void {
  assertVmId(spec.vmId);
  if (!spec.ownerId) invalid('ownerId is required');
  // libvirt rejects titles with newlines; failing here gives the caller a clear error instead.
  if (spec.title !== undefined && /[\r\n]/.test(spec.title)) invalid('title must be a single line');
  assertPositiveInteger('vcpus', spec.vcpus, 4096);
  assertPositiveInteger('maxVcpus', spec.maxVcpus ?? spec.vcpus, 4096);
  if ((spec.maxVcpus ?? spec.vcpus) < spec.vcpus) invalid('maxVcpus must be at least vcpus');
  assertPositiveInteger('memoryMiB', spec.memoryMiB, 16 * 1024 * 1024);
  assertPositiveInteger('maxMemoryMiB', spec.maxMemoryMiB ?? spec.memoryMiB, 16 * 1024 * 1024);
  if ((spec.maxMemoryMiB ?? spec.memoryMiB) < spec.memoryMiB) invalid('maxMemoryMiB must be at least memoryMiB');
  validateDisks(spec.disks);
  if (spec.cdrom?.isoPath) assertAbsolutePath('cdrom.isoPath', spec.cdrom.isoPath);
  if (spec.seedIsoPath) assertAbsolutePath('seedIsoPath', spec.seedIsoPath);
  assertAbsolutePath('serialLogPath', spec.serialLogPath);
  if (spec.kernel) {
    assertAbsolutePath('kernel.kernelPath', spec.kernel.kernelPath);
    if (spec.kernel.initrdPath) assertAbsolutePath('kernel.initrdPath', spec.kernel.initrdPath);
  }
  validateNics(spec.nics);
  if (spec.guestAgent !== undefined && typeof spec.guestAgent !== 'boolean') invalid('guestAgent must be a boolean');
  // VNC passwords are limited to 8 characters by the VNC protocol; longer ones are truncated.
  if (spec.vnc?.password !== undefined && (spec.vnc.password.length === 0 || spec.vnc.password.length > 8)) {
    invalid('vnc.password must be 1-8 characters');
  }
}

export const MAX_DISKS = 16;
export const DISK_BUSES: readonly DiskBus[] = ['virtio', 'scsi'];
/** What virtio-blk can show the guest (20 bytes) in characters no XML, QEMU option or udev link needs quoted. */
const DISK_SERIAL = /^[A-Za-z0-9-]{1,20}$/;

/** One disk: its path, format, id (→ alias), bus, serial and boot rank. */
export function validateDisk(disk: DiskSpec, label = 'disk'): void {
  if (!disk || typeof disk !== 'object') invalid(`${label} must be an object`);
  if (typeof disk.path !== 'string') invalid(`${label}.path must be an absolute path`);
  assertAbsolutePath(`${label}.path`, disk.path);
  if (disk.format !== undefined && disk.format !== 'qcow2' && disk.format !== 'raw')
    invalid(`${label}.format must be qcow2 or raw`);
  if (disk.id !== undefined) assertDiskId(disk.id);
  if (disk.bus !== undefined && !DISK_BUSES.includes(disk.bus)) invalid(`${label}.bus must be virtio or scsi`);
  if (disk.serial !== undefined && (typeof disk.serial !== 'string' || !DISK_SERIAL.test(disk.serial)))
    invalid(`${label}.serial must be 1-20 of [A-Za-z0-9-]`);
  if (
    disk.bootIndex !== undefined &&
    (!Number.isInteger(disk.bootIndex) || disk.bootIndex < 0 || disk.bootIndex > 0xffff)
  )
    invalid(`${label}.bootIndex must be an integer between 0 and 65535`);
}

/** At most MAX_DISKS, each valid, no id, serial or boot rank twice. */
export function validateDisks(disks: DiskSpec[]): void {
  if (!Array.isArray(disks)) invalid('disks must be a list');
  if (disks.length > MAX_DISKS) invalid(`at most ${MAX_DISKS} disks`);
  disks.forEach((disk, index) => validateDisk(disk, `disks[${index}]`));
  for (const key of ['id', 'serial', 'bootIndex'] as const) {
    const values = disks.map((disk) => disk[key]).filter((value) => value !== undefined);
    if (new Set(values).size !== values.length) invalid(`two disks have the same ${key}`);
  }
}

function letter(index: number): string {
  return String.fromCharCode('a'.charCodeAt(0) + index);
}

/** Disk target names: vda, vdb, ... vdz. */
export function virtioTarget(index: number): string {
  return `vd${letter(index)}`;
}

export const CDROM_TARGET = 'sda';
export const SEED_TARGET = 'sdb';
/** SCSI disks come after the CD-ROM (sda, unit 0) and the seed (sdb, unit 1), whether those exist or not. */
const FIRST_SCSI_DISK_UNIT = 2;

/** The n-th SCSI disk's target: sdc, sdd, ... */
export function scsiDiskTarget(index: number): string {
  return `sd${letter(FIRST_SCSI_DISK_UNIT + index)}`;
}

/** The unit on the virtio-scsi controller of a SCSI target (sda → 0, sdc → 2): libvirt's own mapping. */
export function scsiUnitOf(target: string): number {
  return target.charCodeAt(2) - 'a'.charCodeAt(0);
}

/** Each disk's target, in order: virtio disks vda, vdb, ...; SCSI disks sdc, sdd, ... */
export function diskTargets(disks: DiskSpec[]): string[] {
  let virtio = 0;
  let scsi = 0;
  return disks.map((disk) => ((disk.bus ?? 'virtio') === 'scsi' ? scsiDiskTarget(scsi++) : virtioTarget(virtio++)));
}

/** The first target of `bus` that none of `used` holds (a hot-plugged disk's). */
export function freeDiskTarget(bus: DiskBus, used: ReadonlySet<string>): string {
  const candidates = Array.from({ length: 24 }, (_, index) =>
    bus === 'scsi' ? scsiDiskTarget(index) : virtioTarget(index),
  );
  const free = candidates.find((target) => !used.has(target));
  if (!free) invalid(`no free ${bus} disk target`);
  return free;
}

/**
 * What a spec's disks look like as DomainInfo.disks where no hypervisor reports them (qemu-direct, the
 * fake): the targets the definition gives them, ids, buses, serials, then the CD-ROM and the seed.
 */
export function diskInfosOf(spec: DomainSpec): DomainDiskInfo[] {
  const targets = diskTargets(spec.disks);
  const disks: DomainDiskInfo[] = spec.disks.map((disk, index) => ({
    target: targets[index],
    device: 'disk',
    path: disk.path,
    format: disk.format ?? 'qcow2',
    readonly: false,
    seed: false,
    ...(disk.id !== undefined ? { id: disk.id } : {}),
    bus: disk.bus ?? 'virtio',
    ...(disk.serial !== undefined ? { serial: disk.serial } : {}),
  }));
  const cdrom = (target: string, path: string | undefined, seed: boolean): DomainDiskInfo => ({
    target,
    device: 'cdrom',
    ...(path ? { path } : {}),
    format: 'raw',
    readonly: true,
    seed,
  });
  if (spec.cdrom) disks.push(cdrom(CDROM_TARGET, spec.cdrom.isoPath, false));
  if (spec.seedIsoPath) disks.push(cdrom(SEED_TARGET, spec.seedIsoPath, true));
  return disks;
}
