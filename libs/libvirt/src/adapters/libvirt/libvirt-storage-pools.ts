import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HypervisorError } from '../../errors/hypervisor-error';
import { withScratchDir } from '../../host/scratch-dir';
import { StoragePoolDefinition, StoragePoolInfo } from '../../models';
import { assertPoolName } from '../../naming/storage-name';
import { LibLogger } from '../../transport/logger';
import { buildPoolXml, ParsedPool, parsePoolXml } from '../../xml/storage-xml';
import {
  assertStoragePath,
  errorText,
  invalid,
  LIMEN_POOL_PREFIX,
  POOL_MISSING,
  StorageCommandRunner,
} from './storage-support';

const POOL_EXISTS = /pool '.*' already exists/i;
/**
 * How long a refresh refused while libvirt builds a volume in the pool (a clone, an upload: they
 * may take minutes) is tried again, and at most how long apart.
 */
const REFRESH_PATIENCE_MS = 15 * 60 * 1000;
const REFRESH_RETRY_MAX_MS = 2000;

interface PoolState {
  active: boolean;
  autostart: boolean;
}

function validatePoolDefinition(definition: StoragePoolDefinition): void {
  if (!definition || typeof definition !== 'object') invalid('a storage pool definition is required');
  assertPoolName(definition.name);
  if (definition.type !== 'dir') invalid('only dir storage pools are created');
  assertStoragePath('storage pool path', definition.path);
}

function field(output: string, label: string): string | undefined {
  return new RegExp(`^${label}:\\s*(.*)$`, 'm').exec(output)?.[1]?.trim();
}

function lines(output: string): string[] {
  return output
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

/** The storage pools of one host (LibvirtStorage's pool half). */
export class LibvirtStoragePools {
  constructor(
    private readonly run: StorageCommandRunner,
    private readonly logger: LibLogger,
  ) {}

  /**
   * Defines, builds (creates the folder, 0711, parents too; files already there stay), starts and
   * autostarts a dir pool, unless an identical one is there. STORAGE_CONFLICT when a pool of that
   * name has another folder or type, or another pool already uses the folder (libvirt refuses that define).
   */
  async ensure(definition: StoragePoolDefinition): Promise<StoragePoolInfo> {
    validatePoolDefinition(definition);
    const { name } = definition;
    let existing = await this.read(name, true);
    let definedHere = false;
    if (!existing) {
      try {
        await withScratchDir(async (dir) => {
          const file = join(dir, 'pool.xml');
          await writeFile(file, buildPoolXml(definition), { mode: 0o600 });
          await this.run({ name: 'pool-define', options: { file } });
        });
        definedHere = true;
      } catch (error) {
        // Another api instance defined it in between: fine when it is the same pool.
        if (!POOL_EXISTS.test(errorText(error))) throw error;
        existing = await this.read(name, true);
      }
    }
    if (existing && (existing.type !== definition.type || existing.path !== definition.path))
      throw new HypervisorError(
        'STORAGE_CONFLICT',
        `storage pool ${name} exists with another ${existing.type === definition.type ? 'folder' : 'type'}`,
      );
    const state = await this.state(name);
    if (!state.active) await this.start(name, definedHere);
    if (!state.autostart) await this.run({ name: 'pool-autostart', options: { pool: name } });
    const info = await this.info(name, { active: true, autostart: true });
    if (!info) throw new HypervisorError('OPERATION_FAILED', `storage pool ${name} was undefined while it was set up`);
    return info;
  }

  /** LIMEN pools (names starting `limen-`), refreshed first so sizes count files written since. */
  async list(): Promise<StoragePoolInfo[]> {
    const all = lines(await this.run({ name: 'pool-list', flags: ['all', 'name'] }));
    const pools = await Promise.all(
      all
        .filter((name) => name.startsWith(LIMEN_POOL_PREFIX))
        .map(async (name) => {
          try {
            return await this.info(name, await this.state(name), true);
          } catch (error) {
            // Undefined between the two calls: it is simply no longer there.
            if (POOL_MISSING.test(errorText(error))) return undefined;
            throw error;
          }
        }),
    );
    return pools.filter((pool): pool is StoragePoolInfo => pool !== undefined);
  }

  /**
   * Re-lists a pool's folder, so files written outside libvirt appear (a serial log). False when the
   * pool is not there. libvirt refuses (BUSY) while it builds a volume in the pool, for as long as
   * that takes: a `patient` refresh waits for it (a delete must see the files), others give up at
   * once (a listing's sizes can do without).
   */
  async refresh(name: string, options: { patient: boolean } = { patient: true }): Promise<boolean> {
    const deadline = Date.now() + (options.patient ? REFRESH_PATIENCE_MS : 0);
    for (let wait = 200; ; wait = Math.min(wait * 2, REFRESH_RETRY_MAX_MS)) {
      try {
        await this.run({ name: 'pool-refresh', options: { pool: name } });
        return true;
      } catch (error) {
        if (POOL_MISSING.test(errorText(error))) return false;
        if (!HypervisorError.is(error, 'BUSY') || Date.now() + wait > deadline) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** The active LIMEN pool whose folder is `folder`, if any. */
  async ofFolder(folder: string): Promise<string | undefined> {
    const active = lines(await this.run({ name: 'pool-list', flags: ['name'] }));
    for (const name of active.filter((pool) => pool.startsWith(LIMEN_POOL_PREFIX))) {
      if ((await this.read(name, false))?.path === folder) return name;
    }
    return undefined;
  }

  private async start(name: string, definedHere: boolean): Promise<void> {
    try {
      // The folder may be missing (first use, or removed since): build makes it.
      await this.run({ name: 'pool-build', options: { pool: name } });
      await this.run({ name: 'pool-start', options: { pool: name } });
    } catch (error) {
      const startedMeanwhile = await this.state(name).then(
        (state) => state.active,
        () => false,
      );
      if (startedMeanwhile) return;
      // Nothing half-made stays behind: a pool LIMEN defined but cannot start goes again.
      if (definedHere) await this.run({ name: 'pool-undefine', options: { pool: name } }).catch(() => undefined);
      throw error;
    }
  }

  /** A pool's definition (the persistent one with `inactive`); undefined when there is no pool of that name. */
  private async read(name: string, inactive: boolean): Promise<ParsedPool | undefined> {
    try {
      return parsePoolXml(
        await this.run({ name: 'pool-dumpxml', options: { pool: name }, flags: inactive ? ['inactive'] : [] }),
      );
    } catch (error) {
      if (POOL_MISSING.test(errorText(error))) return undefined;
      throw error;
    }
  }

  private async state(name: string): Promise<PoolState> {
    const info = await this.run({ name: 'pool-info', options: { pool: name } });
    return { active: field(info, 'State') === 'running', autostart: field(info, 'Autostart') === 'yes' };
  }

  /** A pool's sizes beside its known state; with `refresh`, an active pool is re-read from its folder first. */
  private async info(name: string, state: PoolState, refresh = false): Promise<StoragePoolInfo | undefined> {
    if (refresh && state.active) {
      // Refused while a volume is being built in the pool (a long clone): its last sizes then.
      await this.refresh(name, { patient: false }).catch((error: unknown) =>
        this.logger.warn(`pool-refresh ${name}: ${errorText(error)}`),
      );
    }
    const pool = await this.read(name, false);
    if (!pool) return undefined;
    return {
      name,
      type: pool.type,
      path: pool.path,
      ...state,
      capacityBytes: pool.capacityBytes,
      allocationBytes: pool.allocationBytes,
      availableBytes: pool.availableBytes,
    };
  }
}
