import { isAbsolute } from 'node:path';
import { HypervisorError } from '../errors/hypervisor-error';
import { DomainSpec } from '../models';
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
  if (spec.disks.length > 20) invalid('at most 20 disks');
  spec.disks.forEach((disk, index) => assertAbsolutePath(`disks[${index}].path`, disk.path));
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

/** Disk target names: vda, vdb, ... vdz. */
export function virtioTarget(index: number): string {
  return `vd${String.fromCharCode('a'.charCodeAt(0) + index)}`;
}

export const CDROM_TARGET = 'sda';
export const SEED_TARGET = 'sdb';
