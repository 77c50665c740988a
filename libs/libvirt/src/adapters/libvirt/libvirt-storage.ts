import { open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HypervisorError } from '../../errors/hypervisor-error';
import { withScratchDir } from '../../host/scratch-dir';
import {
  PoolVolumeInfo,
  PoolVolumeSpec,
  SeedIsoVolumeSpec,
  StoragePoolDefinition,
  StoragePoolInfo,
  VolumeFormat,
  VolumeRef,
} from '../../models';
import { isLocalLibvirtUri, libvirtUriRefusal } from '../../transport/libvirt-uri';
import { LibLogger, silentLogger } from '../../transport/logger';
import { runProcess } from '../../transport/process-runner';
import { VirshCommand, virshArgv } from '../../transport/virsh-command';
import { mapVirshError } from '../../transport/virsh-error-mapper';
import { VirshPool } from '../../transport/virsh-pool';
import { sessionEnvironment } from '../../transport/virsh-session';
import { SeedIsoWriter } from '../../volumes/seed-iso';
import { buildVolumeXml, ParsedVolume, parsePoolXml, parseVolumeXml } from '../../xml/storage-xml';
import { assertPoolName } from '../../naming/storage-name';
import { LibvirtStoragePools } from './libvirt-storage-pools';
import {
  assertFormat,
  assertRef,
  assertSize,
  assertStoragePath,
  errorText,
  invalid,
  LIMEN_POOL_PREFIX,
  POOL_MISSING,
  copyIntoFile,
  storageError,
  toVolumeInfo,
} from './storage-support';

export interface LibvirtStorageOptions {
  /** The shared virsh sessions: every short command. */
  pool: VirshPool;
  virshPath?: string;
  /**
   * Time allowed to one upload, download or clone. They run in a virsh process of their own, not in
   * a shared session, which they would hold (and block) for as long as the copy takes. Default 2 h.
   */
  transferTimeoutMs?: number;
  seedIsoWriter?: SeedIsoWriter;
  logger?: LibLogger;
}

/**
 * A host's storage through libvirt storage pools: disks, seed ISOs and cached images are volumes
 * addressed by pool and name, so a host reached over a remote URI needs no folder shared with the
 * api. Every failure is a HypervisorError; pool and volume names, paths and sizes are checked
 * before any command runs (INVALID_ARGUMENT). Volumes are created 0600 (libvirt hands a disk to
 * QEMU's user when a domain starts), pool folders 0711.
 */
export class LibvirtStorage {
  private readonly pool: VirshPool;
  private readonly pools: LibvirtStoragePools;
  private readonly local: boolean;
  private readonly transferTimeoutMs: number;
  private readonly seedIsoWriter: SeedIsoWriter;
  private readonly logger: LibLogger;

  constructor(private readonly options: LibvirtStorageOptions) {
    this.pool = options.pool;
    this.local = isLocalLibvirtUri(options.pool.uri);
    this.transferTimeoutMs = options.transferTimeoutMs ?? 2 * 60 * 60 * 1000;
    this.seedIsoWriter = options.seedIsoWriter ?? new SeedIsoWriter();
    this.logger = options.logger ?? silentLogger;
    this.pools = new LibvirtStoragePools((command) => this.run(command), this.logger);
  }

  /** See LibvirtStoragePools.ensure. */
  ensureStoragePool(definition: StoragePoolDefinition): Promise<StoragePoolInfo> {
    return this.pools.ensure(definition);
  }

  /** LIMEN pools (names starting `limen-`) with their sizes, refreshed first. */
  listStoragePools(): Promise<StoragePoolInfo[]> {
    return this.pools.list();
  }

  /** The folder of an active pool on its host; VOLUME_NOT_FOUND when there is no such pool. */
  async poolPath(name: string): Promise<string> {
    assertPoolName(name);
    return parsePoolXml(await this.run({ name: 'pool-dumpxml', options: { pool: name } })).path;
  }

  /** Re-lists a pool's folder so files libvirt did not write through it become volumes. False without the pool. */
  refreshPool(name: string): Promise<boolean> {
    assertPoolName(name);
    return this.pools.refresh(name);
  }

  /**
   * An empty volume of `sizeBytes`, or a qcow2 overlay over `backing` (any pool of the same host),
   * read as its given format and refused when it has a backing file of its own (its chain would
   * make QEMU open that other file for this VM). VOLUME_EXISTS also for a file libvirt does not list.
   */
  async createVolume(spec: PoolVolumeSpec): Promise<PoolVolumeInfo> {
    assertRef(spec);
    const format = spec.format ?? 'qcow2';
    assertFormat(format);
    if (spec.sizeBytes !== undefined) assertSize('sizeBytes', spec.sizeBytes);
    let backing: { path: string; format: VolumeFormat } | undefined;
    if (spec.backing) {
      assertRef(spec.backing, 'backing volume');
      assertFormat(spec.backing.format, 'backing format');
      if (format !== 'qcow2') invalid('only a qcow2 volume can have a backing volume');
      const base = await this.getVolume(spec.backing, spec.backing.format);
      if (base.backingPath) invalid(`backing volume ${spec.backing.name} has a backing file of its own`);
      if (spec.sizeBytes !== undefined && spec.sizeBytes < base.virtualSizeBytes)
        invalid('an overlay cannot be smaller than its backing volume');
      backing = { path: base.path, format: spec.backing.format };
    } else if (spec.sizeBytes === undefined) {
      invalid('sizeBytes is required without a backing volume');
    }
    await this.defineVolume(
      spec.pool,
      buildVolumeXml({ name: spec.name, format, capacityBytes: spec.sizeBytes, backing }),
    );
    return this.getVolume(spec, format);
  }

  /** The volume as libvirt reads it now (see toVolumeInfo for `format`). VOLUME_NOT_FOUND, for a missing pool too. */
  async getVolume(ref: VolumeRef, format?: VolumeFormat): Promise<PoolVolumeInfo> {
    assertRef(ref);
    if (format !== undefined) assertFormat(format);
    const xml = await this.run({ name: 'vol-dumpxml', options: { pool: ref.pool, vol: ref.name } });
    return toVolumeInfo(ref, parseVolumeXml(xml), format);
  }

  /** Grows a volume (shrinks only with allowShrink); INVALID_STATE while a running domain holds it. */
  async resizeVolume(
    ref: VolumeRef,
    sizeBytes: number,
    options: { allowShrink?: boolean } = {},
  ): Promise<PoolVolumeInfo> {
    assertRef(ref);
    assertSize('sizeBytes', sizeBytes);
    const current = await this.getVolume(ref);
    if (sizeBytes === current.virtualSizeBytes) return current;
    const shrink = sizeBytes < current.virtualSizeBytes;
    if (shrink && !options.allowShrink) invalid(`shrinking ${ref.name} loses data; pass allowShrink`);
    await this.run({
      name: 'vol-resize',
      options: { pool: ref.pool, vol: ref.name, capacity: sizeBytes },
      flags: shrink ? ['shrink'] : [],
    });
    return this.getVolume(ref);
  }

  /** Idempotent: a volume (or pool) that is not there is fine; a file libvirt had not listed yet goes too. */
  async deleteVolume(ref: VolumeRef): Promise<void> {
    assertRef(ref);
    const command: VirshCommand = { name: 'vol-delete', options: { pool: ref.pool, vol: ref.name } };
    if ((await this.tryDelete(command)) !== 'no-volume') return;
    if (await this.pools.refresh(ref.pool)) await this.tryDelete(command);
  }

  /**
   * Removes the volume at `path` on the host (a domain's disk, seed ISO or serial log) through the
   * active pool that holds it: the only way on a remote host. Idempotent. A file in no pool (the
   * legacy per-VM folders) is removed directly when the host is this machine, and left otherwise.
   */
  async deleteVolumeByPath(path: string): Promise<void> {
    assertStoragePath('volume path', path);
    const command: VirshCommand = { name: 'vol-delete', options: { vol: path } };
    if ((await this.tryDelete(command)) === 'deleted') return;
    const pool = await this.pools.ofFolder(dirname(path));
    if (pool) {
      if (await this.pools.refresh(pool)) await this.tryDelete(command);
    } else if (this.local) {
      await rm(path, { force: true });
    } else {
      this.logger.warn(`${path} is in no active LIMEN storage pool of its host: left in place`);
    }
  }

  /**
   * A full copy of `source` in the same pool, its backing chain flattened (vol-create-from: a fresh
   * definition, so libvirt's record of the copy names no backing file). A source with a backing
   * file is copied only when that file is a standalone volume of a LIMEN pool: flattening reads
   * whatever the chain names. VOLUME_EXISTS. On other failures the copy is removed (libvirtd may
   * still be writing it after a TIMEOUT: then that is logged and it stays).
   */
  async cloneVolume(source: VolumeRef, target: VolumeRef): Promise<PoolVolumeInfo> {
    assertRef(source, 'source volume');
    assertRef(target, 'target volume');
    if (source.pool !== target.pool) invalid('a volume is cloned within its own pool');
    const original = await this.getVolume(source);
    if (original.backingPath) await this.assertOwnBacking(original.backingPath);
    // Asked first, so a failure below never removes a volume that was there before.
    if ((await this.lookup({ name: 'vol-info', options: { pool: target.pool, vol: target.name } })) !== undefined)
      throw new HypervisorError('VOLUME_EXISTS', `volume ${target.name} already exists in ${target.pool}`);
    const format: VolumeFormat = original.format === 'qcow2' ? 'qcow2' : 'raw';
    const xml = buildVolumeXml({ name: target.name, format, capacityBytes: original.virtualSizeBytes });
    try {
      await withScratchDir(async (dir) => {
        const file = join(dir, 'volume.xml');
        await writeFile(file, xml, { mode: 0o600 });
        await this.runTransfer({
          name: 'vol-create-from',
          options: { pool: target.pool, file, vol: source.name, inputpool: source.pool },
        });
      });
    } catch (error) {
      if (!HypervisorError.is(error, 'VOLUME_EXISTS') && !HypervisorError.is(error, 'VOLUME_NOT_FOUND'))
        await this.discard(target);
      throw error;
    }
    return this.getVolume(target, format);
  }

  /**
   * Creates `ref` and fills it with the local file's bytes (copied on this machine, virsh vol-upload to another host: one pass over the
   * data, nothing hashed or converted here), returned as read in `format`. VOLUME_EXISTS; on any
   * other failure the new volume is deleted again.
   */
  async uploadVolume(ref: VolumeRef, localPath: string, options: { format: VolumeFormat }): Promise<PoolVolumeInfo> {
    assertRef(ref);
    assertFormat(options?.format);
    assertStoragePath('local file', localPath);
    const file = await stat(localPath).catch((error: NodeJS.ErrnoException) =>
      invalid(`cannot read the local file ${localPath}: ${error.code ?? error.message}`),
    );
    if (!file.isFile()) invalid(`${localPath} is not a regular file`);
    // Created raw and sparse: the upload replaces every byte, so libvirt has nothing to format first.
    await this.defineVolume(ref.pool, buildVolumeXml({ name: ref.name, format: 'raw', capacityBytes: file.size }));
    try {
      if (this.local) {
        // On this machine the bytes go straight into the file libvirt made: several times faster
        // than streaming them through libvirtd. The refresh re-reads the format, as vol-upload's does.
        await copyIntoFile(localPath, (await this.getVolume(ref, 'raw')).path, this.transferTimeoutMs);
        await this.pools.refresh(ref.pool);
      } else {
        await this.runTransfer({ name: 'vol-upload', options: { pool: ref.pool, vol: ref.name, file: localPath } });
      }
      return await this.getVolume(ref, options.format);
    } catch (error) {
      await this.discard(ref);
      throw error;
    }
  }

  /** Writes the volume's bytes to the local file (created 0600; replaced when it exists). */
  async downloadVolume(ref: VolumeRef, localPath: string): Promise<void> {
    assertRef(ref);
    assertStoragePath('local file', localPath);
    // A disk's bytes are its owner's: the file is private before virsh writes into it.
    const created = await open(localPath, 'wx', 0o600).then(
      (handle) => handle.close().then(() => true),
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'EEXIST') return false;
        invalid(`cannot write the local file ${localPath}: ${error.code ?? error.message}`);
      },
    );
    try {
      await this.runTransfer({ name: 'vol-download', options: { pool: ref.pool, vol: ref.name, file: localPath } });
    } catch (error) {
      if (created) await rm(localPath, { force: true });
      throw error;
    }
  }

  /**
   * Writes the NoCloud seed ISO in a private scratch folder (never into a pool folder directly: on
   * a remote host there is none here) and uploads it as `ref`, replacing a previous seed. The old
   * one is only deleted once the new ISO is written, so bad documents leave it as it was.
   */
  async createSeedIso(spec: SeedIsoVolumeSpec): Promise<PoolVolumeInfo> {
    assertRef(spec);
    return withScratchDir(async (dir) => {
      const path = join(dir, 'seed.iso');
      const { metaData, userData, networkConfig } = spec;
      await this.seedIsoWriter.create({
        path,
        metaData,
        userData,
        ...(networkConfig !== undefined ? { networkConfig } : {}),
      });
      try {
        return await this.uploadVolume(spec, path, { format: 'raw' });
      } catch (error) {
        // Refused before any byte moved: the previous seed goes, the new one takes its name.
        if (!HypervisorError.is(error, 'VOLUME_EXISTS')) throw error;
        await this.deleteVolume(spec);
        return this.uploadVolume(spec, path, { format: 'raw' });
      }
    });
  }

  /**
   * The last `maxBytes` of a file in one of the host's pools (a serial log virtlogd writes), read
   * through libvirt: no folder of the host needs to be visible here. '' when there is no such file
   * (yet). A file libvirt has not listed is found by refreshing the LIMEN pool over its folder.
   */
  async tailFile(path: string, maxBytes = 64 * 1024): Promise<string> {
    assertStoragePath('file path', path);
    assertSize('maxBytes', maxBytes);
    let volume = await this.volumeAt(path);
    if (!volume) {
      const pool = await this.pools.ofFolder(dirname(path));
      if (!pool || !(await this.pools.refresh(pool))) return '';
      volume = await this.volumeAt(path);
      if (!volume) return '';
    }
    const size = volume.physicalBytes ?? volume.capacityBytes;
    const length = Math.min(size, maxBytes);
    if (length === 0) return '';
    return withScratchDir(async (dir) => {
      const file = join(dir, 'tail');
      // Bounded by maxBytes, so a shared session is fine for this one.
      await this.run({ name: 'vol-download', options: { vol: path, file, offset: size - length, length } });
      // A cut through a multi-byte character becomes U+FFFD; the rest of the text stays intact.
      return (await readFile(file)).toString('utf8');
    });
  }

  /** A short command on the shared sessions. */
  private async run(command: VirshCommand): Promise<string> {
    try {
      return await this.pool.run(command);
    } catch (error) {
      throw storageError(error);
    }
  }

  /** A data copy, in a virsh process of its own so the shared sessions stay free meanwhile. */
  private async runTransfer(command: VirshCommand): Promise<void> {
    const refusal = libvirtUriRefusal(this.pool.uri);
    if (refusal !== null) throw new HypervisorError('INVALID_ARGUMENT', `The libvirt URI ${refusal}`);
    const argv = ['-q', '-c', this.pool.uri, ...virshArgv(command)];
    const options = { allowFailure: true, timeoutMs: this.transferTimeoutMs, env: sessionEnvironment() };
    const result = await runProcess(this.options.virshPath ?? 'virsh', argv, options).catch((error: unknown) => {
      throw storageError(error);
    });
    if (result.exitCode !== 0) throw storageError(mapVirshError(result.stderr, `virsh ${command.name}`));
  }

  private async defineVolume(pool: string, xml: string): Promise<void> {
    await withScratchDir(async (dir) => {
      const file = join(dir, 'volume.xml');
      await writeFile(file, xml, { mode: 0o600 });
      await this.run({ name: 'vol-create', options: { pool, file } });
    });
  }

  /** Best-effort removal of a volume made before a failure; the caller sees the first error. */
  private async discard(ref: VolumeRef): Promise<void> {
    await this.deleteVolume(ref).catch((error: unknown) =>
      this.logger.warn(`cannot remove the partial volume ${ref.pool}/${ref.name}: ${errorText(error)}`),
    );
  }

  /** Runs a vol-delete and says whether it deleted, or what libvirt did not know. */
  private async tryDelete(command: VirshCommand): Promise<'deleted' | 'no-volume' | 'no-pool'> {
    try {
      await this.run(command);
      return 'deleted';
    } catch (error) {
      if (!HypervisorError.is(error, 'VOLUME_NOT_FOUND')) throw error;
      return POOL_MISSING.test(errorText(error)) ? 'no-pool' : 'no-volume';
    }
  }

  /** The output of a lookup, undefined when libvirt knows no such volume (or pool). */
  private async lookup(command: VirshCommand): Promise<string | undefined> {
    try {
      return await this.run(command);
    } catch (error) {
      if (HypervisorError.is(error, 'VOLUME_NOT_FOUND')) return undefined;
      throw error;
    }
  }

  /** A backing file LIMEN made: a volume of a LIMEN pool without a backing file of its own. */
  async assertOwnBacking(path: string): Promise<void> {
    const pool = await this.lookup({ name: 'vol-pool', options: { vol: path } });
    const backing = pool?.trim().startsWith(LIMEN_POOL_PREFIX) ? await this.volumeAt(path) : undefined;
    if (!backing || backing.backing)
      invalid(`the backing file ${path} is not a standalone volume of a LIMEN storage pool`);
  }

  /** The volume libvirt knows at `path` (in any active pool), undefined when it knows none. */
  private async volumeAt(path: string): Promise<ParsedVolume | undefined> {
    const xml = await this.lookup({ name: 'vol-dumpxml', options: { vol: path } });
    return xml === undefined ? undefined : parseVolumeXml(xml);
  }
}
