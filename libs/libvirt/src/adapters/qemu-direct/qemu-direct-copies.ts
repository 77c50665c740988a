import { rm, stat } from 'node:fs/promises';
import { HypervisorError } from '../../errors/hypervisor-error';
import { DiskBackupTarget, VolumeExportInfo, VolumeExportOptions, VolumeRef } from '../../models';
import { domainNameFor } from '../../naming/domain-name';
import { QmpClient } from '../../qmp/qmp-client';
import { assertBackupTargets } from '../../volumes/backup-targets';
import { assertExportRequest } from '../../volumes/export-options';
import { QemuImg } from '../../volumes/qemu-img';
import { diskNodeName } from './disk-argv';
import { StoredDomain } from './domain-store';
import { QemuDirectStorage } from './qemu-direct-storage';

/**
 * A disk backup's QEMU jobs and target nodes are named by their position in the backup, so a
 * wait or an abort after a restart of the api still finds them in the running QEMU (one per VM).
 */
const JOB_PREFIX = 'limen-backup-';
const jobId = (index: number) => `${JOB_PREFIX}${index}`;
const targetNode = (job: string) => `${job}-target`;

interface QemuJob {
  id: string;
  status: string;
  error?: string;
}

export interface QemuDirectCopiesOptions {
  storage: QemuDirectStorage;
  qemuImg: QemuImg;
  requireDomain(vmId: string): Promise<StoredDomain>;
  /** The running QEMU's QMP connection, undefined when the domain is stopped. */
  qmp(vmId: string): Promise<QmpClient | undefined>;
  /** How often waitDiskBackup asks QEMU about the jobs. Default 200 ms. */
  pollIntervalMs?: number;
}

/**
 * qemu-direct's copies of disks for backups, templates and clones: volume exports with qemu-img
 * on the pool's files (this machine's), and disk backups of a running QEMU (blockdev-backup).
 */
export class QemuDirectCopies {
  constructor(private readonly options: QemuDirectCopiesOptions) {}

  /**
   * See VirtualizationPort.exportVolume. The image lock tells a volume a running QEMU holds
   * (INVALID_STATE without `snapshot`). A backing file outside the recorded pools is refused:
   * merging the chain would copy whatever file it names into the export.
   */
  async exportVolume(source: VolumeRef, localPath: string, options: VolumeExportOptions): Promise<VolumeExportInfo> {
    assertExportRequest(localPath, options);
    const volume = await this.options.storage.getVolume(source);
    if (volume.backingPath && !(await this.options.storage.isPoolFile(volume.backingPath)))
      throw new HypervisorError(
        'INVALID_ARGUMENT',
        `the backing file of ${source.pool}/${source.name} is not a volume of a LIMEN storage pool`,
      );
    return this.options.qemuImg.exportImage(volume.path, volume.format, localPath, options);
  }

  /**
   * See VirtualizationPort.beginDiskBackup. Each target is created here (an empty qcow2 of its
   * disk's virtual size, 0600), opened in QEMU (blockdev-add) and filled by a blockdev-backup job,
   * sync full, all in one grouped transaction: one point in time for every disk, and one failing
   * job cancels the others. The jobs are not dismissed automatically, so their outcome waits for
   * waitDiskBackup. On a failure before the jobs started, what was made is removed again.
   */
  async beginDiskBackup(vmId: string, targets: DiskBackupTarget[]): Promise<void> {
    assertBackupTargets(targets);
    const name = domainNameFor(vmId);
    const stored = await this.options.requireDomain(vmId);
    const qmp = await this.options.qmp(vmId);
    if (!qmp) throw new HypervisorError('INVALID_STATE', `domain ${name} is not running`);
    if ((await this.jobs(qmp)).length > 0)
      throw new HypervisorError('BUSY', `domain ${name} already runs a disk backup`);
    const nodes = await qmp.execute<Array<{ 'node-name': string; image: { 'virtual-size': number } }>>(
      'query-named-block-nodes',
      { flat: true },
    );
    const plan: Array<{ job: string; source: string; path: string; sizeBytes: number }> = [];
    for (const [index, { diskId, target }] of targets.entries()) {
      const source = diskNodeName(diskId);
      const node = nodes.find((candidate) => candidate['node-name'] === source);
      if (!stored.spec.disks.some((disk) => disk.id === diskId) || !node)
        throw new HypervisorError('INVALID_ARGUMENT', `domain ${name} has no disk ${diskId}`);
      const path = await this.options.storage.volumePath(target);
      plan.push({ job: jobId(index), source, path, sizeBytes: node.image['virtual-size'] });
    }
    for (const [index, { path }] of plan.entries())
      if (await fileExists(path))
        throw new HypervisorError('VOLUME_EXISTS', `volume ${targets[index].target.name} already exists`);

    const created: string[] = [];
    const opened: string[] = [];
    try {
      for (const { job, path, sizeBytes } of plan) {
        await this.options.qemuImg.createFile({ path, format: 'qcow2', sizeBytes });
        created.push(path);
        await qmp.execute('blockdev-add', {
          driver: 'qcow2',
          'node-name': targetNode(job),
          file: { driver: 'file', filename: path },
        });
        opened.push(targetNode(job));
      }
      await qmp.execute('transaction', {
        actions: plan.map(({ job, source }) => ({
          type: 'blockdev-backup',
          data: { 'job-id': job, device: source, target: targetNode(job), sync: 'full', 'auto-dismiss': false },
        })),
        properties: { 'completion-mode': 'grouped' },
      });
    } catch (error) {
      for (const node of opened) await qmp.execute('blockdev-del', { 'node-name': node }).catch(() => undefined);
      for (const path of created) await rm(path, { force: true });
      throw error;
    }
  }

  /**
   * See VirtualizationPort.waitDiskBackup: polls query-jobs until every job of the backup
   * concluded, then dismisses them and closes their targets. Jobs that are not there (QEMU
   * restarted, the domain stopped, the backup aborted) or that ended with an error are OPERATION_FAILED.
   */
  async waitDiskBackup(vmId: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const name = domainNameFor(vmId);
    const failed = (why: string) => new HypervisorError('OPERATION_FAILED', `the disk backup of ${name} ${why}`);
    await this.options.requireDomain(vmId);
    const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    for (;;) {
      const qmp = await this.options.qmp(vmId);
      const jobs = qmp ? await this.jobs(qmp).catch(() => undefined) : undefined;
      if (!qmp || !jobs || jobs.length === 0) throw failed('is not known (the domain stopped or it was aborted)');
      if (jobs.every((job) => job.status === 'concluded')) {
        await this.release(qmp, jobs);
        const errors = jobs.filter((job) => job.error).map((job) => `${job.id}: ${job.error}`);
        if (errors.length > 0) throw failed(`failed: ${errors.join('; ')}`);
        return;
      }
      if (Date.now() >= deadline)
        throw new HypervisorError('TIMEOUT', `the disk backup of ${name} did not finish in ${options.timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, this.options.pollIntervalMs ?? 200));
    }
  }

  /**
   * See VirtualizationPort.abortDiskBackup: cancels the jobs, waits (up to 30 s) until they
   * concluded, and releases them and their targets; the files stay for the caller.
   */
  async abortDiskBackup(vmId: string): Promise<void> {
    const name = domainNameFor(vmId);
    await this.options.requireDomain(vmId);
    const qmp = await this.options.qmp(vmId);
    if (!qmp) return;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const jobs = await this.jobs(qmp);
      if (jobs.length === 0) return;
      const running = jobs.filter((job) => job.status !== 'concluded');
      if (running.length === 0) return this.release(qmp, jobs);
      // A job between states refuses the cancel for a moment: asked again on the next round.
      for (const job of running) await qmp.execute('job-cancel', { id: job.id }).catch(() => undefined);
      if (Date.now() >= deadline)
        throw new HypervisorError('TIMEOUT', `the disk backup of ${name} did not stop within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, this.options.pollIntervalMs ?? 200));
    }
  }

  /** The jobs of LIMEN's disk backup in this QEMU. */
  private async jobs(qmp: QmpClient): Promise<QemuJob[]> {
    const jobs = await qmp.execute<QemuJob[]>('query-jobs');
    return jobs.filter((job) => job.id.startsWith(JOB_PREFIX));
  }

  /** Concluded jobs go, and with them the nodes their targets were open under. */
  private async release(qmp: QmpClient, jobs: QemuJob[]): Promise<void> {
    for (const job of jobs) {
      await qmp.execute('job-dismiss', { id: job.id });
      await qmp.execute('blockdev-del', { 'node-name': targetNode(job.id) }).catch(() => undefined);
    }
  }
}

async function fileExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
