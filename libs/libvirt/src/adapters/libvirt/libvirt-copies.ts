import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HypervisorError } from '../../errors/hypervisor-error';
import { withScratchDir } from '../../host/scratch-dir';
import { DiskBackupTarget, DomainState, VolumeExportInfo, VolumeExportOptions, VolumeRef } from '../../models';
import { domainNameFor } from '../../naming/domain-name';
import { LibLogger } from '../../transport/logger';
import { VirshPool } from '../../transport/virsh-pool';
import { assertBackupTargets } from '../../volumes/backup-targets';
import { assertExportRequest } from '../../volumes/export-options';
import { partialPathFor, QemuImg } from '../../volumes/qemu-img';
import { parseDomainXml } from '../../xml/domain-xml-parser';
import { ATTR, buildXml } from '../../xml/xml-codec';
import { LibvirtStorage } from './libvirt-storage';
import { assertRef, errorText } from './storage-support';

/** virDomainJobType: what `domjobinfo --rawstats` reports as "Job type". */
const JOB_NONE = 0;
const JOB_COMPLETED = 3;
/** virDomainJobOperation of a backup job. */
const OPERATION_BACKUP = 9;

const STORE_EXISTS = /store '.*' for backup of '.*' exists/i;
const JOB_RUNNING = /another backup job|job is already active|cannot acquire state change lock/i;
const NO_JOB = /no job is active|no domain backup job/i;

export interface JobStats {
  type: number;
  operation?: number;
  errmsg?: string;
}

/** `domjobinfo --rawstats`: "Job type: 2", then "key: value" lines. */
export function parseJobStats(output: string): JobStats {
  const fields = new Map<string, string>();
  for (const line of output.split('\n')) {
    const match = /^\s*([A-Za-z_ ]+):\s*(.*)$/.exec(line);
    if (match) fields.set(match[1].trim().toLowerCase(), match[2].trim());
  }
  const operation = fields.get('operation');
  return {
    type: Number(fields.get('job type') ?? JOB_NONE),
    ...(operation !== undefined ? { operation: Number(operation) } : {}),
    ...(fields.has('errmsg') ? { errmsg: fields.get('errmsg') } : {}),
  };
}

export interface LibvirtCopiesOptions {
  /** The shared virsh sessions (every command here is short; the copy runs in QEMU). */
  pool: VirshPool;
  /** The domain's state now (DOMAIN_NOT_FOUND when it is not there). */
  state(name: string): Promise<DomainState>;
  storage: LibvirtStorage;
  /** Whether the URI reaches this machine's libvirtd, whose pool folders the api can read itself. */
  local: boolean;
  qemuImg: QemuImg;
  logger: LibLogger;
  /** How often waitDiskBackup asks libvirt about the job. Default 200 ms. */
  pollIntervalMs?: number;
}

/**
 * Copies of a libvirt host's disks for backups, templates and clones: volume exports (qemu-img on
 * the volume's file when the host is this machine; through a flattened copy downloaded with
 * vol-download when it is remote), and disk backups of running domains (backup-begin, push mode).
 */
export class LibvirtCopies {
  /** Pools holding the targets of backups begun here, refreshed once they completed. */
  private readonly targetPools = new Map<string, Set<string>>();
  /** Domains whose backup was aborted here: its wait fails even if the copy finished first. */
  private readonly aborted = new Set<string>();

  constructor(private readonly options: LibvirtCopiesOptions) {}

  /**
   * See VirtualizationPort.exportVolume. A running QEMU's image lock refuses a volume in use
   * (INVALID_STATE), here and in the qemu-img libvirtd runs for vol-create-from. A backing file
   * must be a standalone volume of a LIMEN pool: merging the chain copies whatever it names.
   */
  async exportVolume(source: VolumeRef, localPath: string, options: VolumeExportOptions): Promise<VolumeExportInfo> {
    assertRef(source, 'source volume');
    assertExportRequest(localPath, options);
    const { storage, qemuImg } = this.options;
    if (this.options.local) {
      const volume = await storage.getVolume(source);
      if (volume.backingPath) await storage.assertOwnBacking(volume.backingPath);
      return qemuImg.exportImage(volume.path, volume.format, localPath, options);
    }
    await storage.getVolume(source);
    if (options.snapshot !== undefined)
      throw new HypervisorError(
        'UNSUPPORTED',
        'a snapshot of a volume of a remote host cannot be exported: libvirt has no call that reads one',
      );
    return this.exportRemote(source, localPath, options.compress);
  }

  /**
   * The host flattens the chain into a temporary volume of the same pool (vol-create-from), which
   * is downloaded beside `localPath` and converted here; both temporaries go whatever happens.
   */
  private async exportRemote(source: VolumeRef, localPath: string, compress: boolean): Promise<VolumeExportInfo> {
    const { storage, qemuImg, logger } = this.options;
    const flat: VolumeRef = { pool: source.pool, name: `limen-export-${randomBytes(8).toString('hex')}.tmp` };
    const download = partialPathFor(localPath);
    try {
      const copy = await storage.cloneVolume(source, flat);
      await storage.downloadVolume(flat, download);
      // The downloaded copy is LIMEN's own flattened volume: read as the format libvirt wrote it in.
      return await qemuImg.exportImage(download, copy.format === 'qcow2' ? 'qcow2' : 'raw', localPath, { compress });
    } finally {
      await rm(download, { force: true });
      await storage
        .deleteVolume(flat)
        .catch((error: unknown) =>
          logger.warn(`cannot remove the temporary volume ${flat.pool}/${flat.name}: ${errorText(error)}`),
        );
    }
  }

  /**
   * See VirtualizationPort.beginDiskBackup: backup-begin in push mode. libvirtd creates each target
   * file on the host (0600, labelled for QEMU while the job runs), writes a full copy of its disk
   * (`backup='yes'`) and skips every other drive (`backup='no'`: the seed, CD-ROM media). It returns
   * once QEMU started the jobs, so the point in time is fixed then. A job of any kind on the domain
   * is BUSY: libvirt would otherwise wait for it (up to 30 s) rather than refuse.
   */
  async beginDiskBackup(vmId: string, targets: DiskBackupTarget[]): Promise<void> {
    assertBackupTargets(targets);
    const name = domainNameFor(vmId);
    const state = await this.options.state(name);
    if (state !== 'running' && state !== 'paused')
      throw new HypervisorError('INVALID_STATE', `domain ${name} is not running (it is ${state})`);
    if ((await this.jobStats(name, false)).type !== JOB_NONE)
      throw new HypervisorError('BUSY', `domain ${name} already runs a job (a disk backup, a snapshot)`);
    const live = parseDomainXml(await this.options.pool.run({ name: 'dumpxml', options: { domain: name } }));
    const chosen = new Map<string, string>();
    const folders = new Map<string, string>();
    for (const { diskId, target } of targets) {
      const disk = live.disks.find((candidate) => candidate.device === 'disk' && candidate.id === diskId);
      if (!disk) throw new HypervisorError('INVALID_ARGUMENT', `domain ${name} has no disk ${diskId}`);
      if (!folders.has(target.pool)) folders.set(target.pool, await this.options.storage.poolPath(target.pool));
      const path = join(folders.get(target.pool)!, target.name);
      if (await this.volumeExists(target, path))
        throw new HypervisorError('VOLUME_EXISTS', `volume ${target.name} already exists in ${target.pool}`);
      chosen.set(disk.target, path);
    }
    const disks = live.disks.map((disk) => {
      const path = chosen.get(disk.target);
      if (path === undefined) return { [`${ATTR}name`]: disk.target, [`${ATTR}backup`]: 'no' };
      return {
        [`${ATTR}name`]: disk.target,
        [`${ATTR}backup`]: 'yes',
        [`${ATTR}type`]: 'file',
        driver: { [`${ATTR}type`]: 'qcow2' },
        target: { [`${ATTR}file`]: path },
      };
    });
    const xml = buildXml({ domainbackup: { [`${ATTR}mode`]: 'push', disks: { disk: disks } } });
    try {
      await withScratchDir(async (dir) => {
        const file = join(dir, 'backup.xml');
        await writeFile(file, xml, { mode: 0o600 });
        await this.options.pool.run({ name: 'backup-begin', options: { domain: name, backupxml: file } });
      });
    } catch (error) {
      const text = errorText(error);
      if (STORE_EXISTS.test(text)) throw new HypervisorError('VOLUME_EXISTS', `a backup target exists: ${text}`);
      if (JOB_RUNNING.test(text)) throw new HypervisorError('BUSY', `domain ${name} already runs a job: ${text}`);
      throw error;
    }
    this.aborted.delete(vmId);
    this.targetPools.set(vmId, new Set(folders.keys()));
  }

  /**
   * See VirtualizationPort.waitDiskBackup: polls domjobinfo until the domain has no job, then reads
   * (and so consumes) the completed job's statistics: a completed backup resolves, once the pools
   * holding its targets were refreshed so they are volumes; a failed or cancelled one, or none
   * (libvirtd restarted, the domain stopped), is OPERATION_FAILED.
   */
  async waitDiskBackup(vmId: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const name = domainNameFor(vmId);
    const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    const failed = (why: string) => new HypervisorError('OPERATION_FAILED', `the disk backup of ${name} ${why}`);
    let done: JobStats;
    try {
      while ((await this.jobStats(name, false)).type !== JOB_NONE) {
        if (Date.now() >= deadline)
          throw new HypervisorError('TIMEOUT', `the disk backup of ${name} did not finish in ${options.timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, this.options.pollIntervalMs ?? 200));
      }
      done = await this.jobStats(name, true);
    } catch (error) {
      if (HypervisorError.is(error, 'INVALID_STATE')) throw failed(`ended with the domain: ${errorText(error)}`);
      throw error;
    }
    const pools = this.targetPools.get(vmId);
    this.targetPools.delete(vmId);
    if (this.aborted.delete(vmId)) throw failed('was aborted');
    if (done.operation !== OPERATION_BACKUP) throw failed('is not known (the hypervisor may have restarted)');
    if (done.type !== JOB_COMPLETED) throw failed(`failed: ${done.errmsg ?? 'no reason given'}`);
    if (pools) for (const pool of pools) await this.options.storage.refreshPool(pool);
    else await this.options.storage.listStoragePools();
  }

  /**
   * See VirtualizationPort.abortDiskBackup: domjobabort, then waits (up to 30 s) until libvirt
   * ended the job, so the targets are no longer open. libvirtd removes the files it created for a
   * cancelled backup; whatever is left is the caller's to delete.
   */
  async abortDiskBackup(vmId: string): Promise<void> {
    const name = domainNameFor(vmId);
    const active = await this.jobStats(name, false).then(
      (stats) => stats.type !== JOB_NONE,
      (error: unknown) => {
        if (HypervisorError.is(error, 'INVALID_STATE')) return false;
        throw error;
      },
    );
    if (!active && !this.targetPools.has(vmId)) return;
    this.aborted.add(vmId);
    if (!active) return;
    try {
      await this.options.pool.run({ name: 'domjobabort', options: { domain: name } });
    } catch (error) {
      if (!NO_JOB.test(errorText(error)) && !HypervisorError.is(error, 'INVALID_STATE')) throw error;
    }
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const stats = await this.jobStats(name, false).catch(() => ({ type: JOB_NONE }));
      if (stats.type === JOB_NONE) return;
      await new Promise((resolve) => setTimeout(resolve, this.options.pollIntervalMs ?? 200));
    }
    throw new HypervisorError('TIMEOUT', `the disk backup of ${name} did not stop within 30 s`);
  }

  /** The domain's current job, or (`completed`) the last finished one, whose statistics the reading consumes. */
  private async jobStats(name: string, completed: boolean): Promise<JobStats> {
    const output = await this.options.pool.run({
      name: 'domjobinfo',
      options: { domain: name },
      flags: completed ? ['completed', 'anystats', 'rawstats'] : ['rawstats'],
    });
    return parseJobStats(output);
  }

  /** Known to libvirt, or (on this machine) a file libvirt has not listed yet. */
  private async volumeExists(ref: VolumeRef, path: string): Promise<boolean> {
    if (this.options.local && existsSync(path)) return true;
    try {
      await this.options.storage.getVolume(ref);
      return true;
    } catch (error) {
      if (HypervisorError.is(error, 'VOLUME_NOT_FOUND')) return false;
      throw error;
    }
  }
}
