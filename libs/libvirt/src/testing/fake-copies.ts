import { open, rename, rm } from 'node:fs/promises';
import { HypervisorError } from '../errors/hypervisor-error';
import { DiskBackupTarget, VolumeExportInfo, VolumeExportOptions, VolumeRef } from '../models';
import { domainNameFor } from '../naming/domain-name';
import { assertBackupTargets } from '../volumes/backup-targets';
import { assertExportRequest } from '../volumes/export-options';
import { partialPathFor } from '../volumes/qemu-img';
import { FakeDomain, invalidState, isActive } from './fake-domain';
import { FakeFileSystem, QCOW2_OVERHEAD_BYTES } from './fake-file-system';
import { qcow2Bytes } from './fake-qcow2';
import { FakeStorage } from './fake-storage';

/** A disk backup of a fake domain: its targets are written at once, the job ends when waited for. */
interface FakeBackupJob {
  state: 'running' | 'aborted' | 'failed';
  failure?: HypervisorError;
}

function invalid(message: string): HypervisorError {
  return new HypervisorError('INVALID_ARGUMENT', message);
}

/**
 * The fake's volume exports and disk backups. Exports are real local files: a qcow2 header
 * followed by the guest data (see fake-qcow2), deflated when compressed, so uploadVolume of one
 * brings the data back. A disk backup copies the disks at once (the point in time) and stays
 * running, for BUSY and abortDiskBackup, until waitDiskBackup ends it; failDiskBackup makes it fail.
 */
export class FakeCopies {
  private readonly jobs = new Map<string, FakeBackupJob>();

  constructor(
    private readonly files: FakeFileSystem,
    private readonly storage: FakeStorage,
    private readonly domains: Map<string, FakeDomain>,
  ) {}

  async exportVolume(source: VolumeRef, localPath: string, options: VolumeExportOptions): Promise<VolumeExportInfo> {
    const path = this.storage.pathOf(source);
    assertExportRequest(localPath, options);
    const file = this.files.require(path);
    let content: Buffer;
    if (options.snapshot !== undefined) {
      const taken = [...this.domains.values()]
        .flatMap((domain) => domain.snapshots)
        .find((snapshot) => snapshot.name === options.snapshot && snapshot.disks.has(path));
      if (!taken)
        throw new HypervisorError(
          'SNAPSHOT_NOT_FOUND',
          `${source.pool}/${source.name} has no snapshot ${options.snapshot}`,
        );
      content = this.merged(file.backingPath, taken.disks.get(path)!);
    } else {
      if (this.inUse(path))
        throw new HypervisorError('INVALID_STATE', `volume ${source.pool}/${source.name} is in use by a running VM`);
      content = this.merged(file.backingPath, file.content);
    }
    const bytes = qcow2Bytes(file.virtualSizeBytes, content, options.compress);
    const partial = partialPathFor(localPath);
    try {
      const handle = await open(partial, 'wx', 0o600);
      try {
        await handle.writeFile(bytes);
      } finally {
        await handle.close();
      }
      await rename(partial, localPath);
    } catch (error) {
      await rm(partial, { force: true });
      throw invalid(`cannot write ${localPath}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    return { sizeBytes: bytes.length, virtualSizeBytes: file.virtualSizeBytes };
  }

  beginDiskBackup(vmId: string, domain: FakeDomain, targets: DiskBackupTarget[]): void {
    assertBackupTargets(targets);
    const paths = targets.map(({ target }) => this.storage.pathOf(target));
    if (!isActive(domain.state)) throw invalidState(vmId, 'is not running');
    if (this.jobs.get(vmId)?.state === 'running')
      throw new HypervisorError('BUSY', `domain ${domainNameFor(vmId)} already runs a disk backup`);
    const disks = (domain.live ?? domain.config).disks;
    const sources = targets.map(({ diskId }) => {
      const disk = disks.find((candidate) => candidate.id === diskId);
      if (!disk) throw invalid(`domain ${domainNameFor(vmId)} has no disk ${diskId}`);
      return this.files.require(disk.path);
    });
    for (const [index, path] of paths.entries())
      if (this.files.file(path))
        throw new HypervisorError('VOLUME_EXISTS', `volume ${targets[index].target.name} already exists`);
    for (const [index, path] of paths.entries()) {
      const source = sources[index];
      const content = this.merged(source.backingPath, source.content);
      this.files.set(path, {
        format: 'qcow2',
        mode: 0o600,
        virtualSizeBytes: source.virtualSizeBytes,
        actualSizeBytes: QCOW2_OVERHEAD_BYTES + content.length,
        content,
      });
    }
    this.jobs.set(vmId, { state: 'running' });
  }

  waitDiskBackup(vmId: string, domain: FakeDomain): void {
    const job = this.jobs.get(vmId);
    this.jobs.delete(vmId);
    if (!job) throw new HypervisorError('OPERATION_FAILED', `domain ${domainNameFor(vmId)} has no disk backup`);
    if (job.state === 'aborted')
      throw new HypervisorError('OPERATION_FAILED', `the disk backup of ${domainNameFor(vmId)} was aborted`);
    if (job.state === 'failed') throw job.failure!;
    if (!isActive(domain.state))
      throw new HypervisorError('OPERATION_FAILED', `domain ${domainNameFor(vmId)} stopped during its disk backup`);
  }

  abortDiskBackup(vmId: string): void {
    const job = this.jobs.get(vmId);
    if (job?.state === 'running') job.state = 'aborted';
  }

  /** The running disk backup of `vmId` fails: waitDiskBackup rejects with `error`. */
  failDiskBackup(vmId: string, error: HypervisorError): void {
    const job = this.jobs.get(vmId);
    if (job?.state !== 'running') throw invalidState(vmId, 'runs no disk backup');
    job.state = 'failed';
    job.failure = error;
  }

  /** What the guest sees of a disk: its backing file's data with its own written over it. */
  private merged(backingPath: string | undefined, content: Buffer): Buffer {
    const backing = backingPath ? this.files.file(backingPath) : undefined;
    if (!backing) return Buffer.from(content);
    const base = this.merged(backing.backingPath, backing.content);
    const out = Buffer.alloc(Math.max(base.length, content.length));
    base.copy(out);
    content.copy(out);
    return out;
  }

  private inUse(path: string): boolean {
    return [...this.domains.values()].some(
      (domain) => isActive(domain.state) && (domain.live ?? domain.config).disks.some((disk) => disk.path === path),
    );
  }
}
