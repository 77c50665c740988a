import { HypervisorError } from '../errors/hypervisor-error';
import { DiskSpec, DomainSpec, SetResourceResult } from '../models';
import { assertDiskId } from '../naming/disk-name';
import { domainNameFor } from '../naming/domain-name';
import { validateDisk, validateDomainSpec } from '../xml/spec-validation';
import { FakeDomain } from './fake-domain';
import { FakeFileSystem } from './fake-file-system';

function invalid(message: string): HypervisorError {
  return new HypervisorError('INVALID_ARGUMENT', message);
}

/**
 * Disks added to, removed from and grown in the fake's domains by LIMEN id: the definition always,
 * the running guest too (hot-plug, blockresize), with the refusals of LibvirtDisks: an attach
 * repeated with the same volume is no error, a detach of a disk that is not there is.
 */
export class FakeDisks {
  constructor(private readonly files: FakeFileSystem) {}

  attach(vmId: string, domain: FakeDomain, disk: DiskSpec): SetResourceResult {
    validateDisk(disk);
    if (disk.id === undefined) throw invalid('a disk needs an id to be attached');
    if (disk.bootIndex !== undefined) throw invalid('a disk attached to a defined domain cannot have a bootIndex');
    const name = domainNameFor(vmId);
    const present = [...domain.config.disks, ...(domain.live?.disks ?? [])];
    const same = present.filter((other) => other.id === disk.id);
    if (same.some((other) => other.path !== disk.path))
      throw invalid(`domain ${name} already has a disk ${disk.id} with another volume`);
    const others = present.filter((other) => other.id !== disk.id);
    if (others.some((other) => other.path === disk.path))
      throw invalid(`domain ${name} already uses ${disk.path} as another disk`);
    if (disk.serial !== undefined && others.some((other) => other.serial === disk.serial))
      throw invalid(`domain ${name} already has a disk with serial ${disk.serial}`);
    const added = { ...disk, bus: disk.bus ?? 'virtio' };
    const inConfig = domain.config.disks.some((other) => other.id === disk.id);
    const inLive = !domain.live || domain.live.disks.some((other) => other.id === disk.id);
    const next: DomainSpec = inConfig ? domain.config : { ...domain.config, disks: [...domain.config.disks, added] };
    validateDomainSpec(next);
    // QEMU opens the file at once when it is plugged into a running guest.
    if (!inLive && !this.files.file(disk.path))
      throw new HypervisorError(
        'OPERATION_FAILED',
        `Cannot access storage file '${disk.path}': No such file or directory`,
      );
    domain.config = next;
    if (domain.live && !inLive) domain.live = { ...domain.live, disks: [...domain.live.disks, { ...added }] };
    return { config: true, live: domain.live !== undefined };
  }

  detach(vmId: string, domain: FakeDomain, diskId: string): SetResourceResult {
    assertDiskId(diskId);
    const has = (spec: DomainSpec | undefined) => !!spec?.disks.some((disk) => disk.id === diskId);
    if (!has(domain.config) && !has(domain.live)) throw invalid(`domain ${domainNameFor(vmId)} has no disk ${diskId}`);
    domain.config = { ...domain.config, disks: domain.config.disks.filter((disk) => disk.id !== diskId) };
    if (domain.live) domain.live = { ...domain.live, disks: domain.live.disks.filter((disk) => disk.id !== diskId) };
    return { config: true, live: domain.live !== undefined };
  }

  /** Live when the running guest has the disk, else its volume; the current size is no error. */
  grow(vmId: string, domain: FakeDomain, diskId: string, sizeBytes: number): SetResourceResult {
    assertDiskId(diskId);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw invalid('sizeBytes must be a positive integer');
    const live = domain.live?.disks.find((candidate) => candidate.id === diskId);
    const disk = live ?? domain.config.disks.find((candidate) => candidate.id === diskId);
    if (!disk) throw invalid(`domain ${domainNameFor(vmId)} has no disk ${diskId}`);
    const file = this.files.require(disk.path);
    if (sizeBytes < file.virtualSizeBytes)
      throw invalid(`disk ${diskId} is ${file.virtualSizeBytes} bytes: shrinking it to ${sizeBytes} would lose data`);
    file.virtualSizeBytes = sizeBytes;
    return { config: true, live: live !== undefined };
  }
}
