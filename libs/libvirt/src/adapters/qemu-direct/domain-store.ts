import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DomainSpec, DomainState, NicSpec, VirtType } from '../../models';
import { assertVmId, macAddressFor } from '../../naming/domain-name';

/** The single NIC of domains defined before specs had `nics` (still read, never written). */
type LegacyNetwork =
  { mode: 'network'; network: string; mac?: string } | { mode: 'user'; mac?: string } | { mode: 'none' };

/**
 * A domain written before NICs had ids: its `network` becomes `nics` (the NIC takes the VM id, as
 * a spec without nics does). A running QEMU of such a domain keeps its old device ids, so NIC
 * and forward changes apply from its next start.
 */
function upgradeStoredDomain(stored: StoredDomain): StoredDomain {
  const { network, ...spec } = stored.spec as DomainSpec & { network?: LegacyNetwork };
  if (!network || spec.nics) return stored;
  const mac = (('mac' in network && network.mac) || stored.mac || macAddressFor(spec.vmId)).toLowerCase();
  const nics: NicSpec[] =
    network.mode === 'none'
      ? []
      : [
          {
            id: spec.vmId,
            mac,
            attachment: network.mode === 'network' ? { type: 'bridge', bridge: network.network } : { type: 'user' },
          },
        ];
  return { ...stored, spec: { ...spec, nics } };
}

/** A domain as qemu-direct persists it: the spec plus what libvirt would otherwise own. */
export interface StoredDomain {
  spec: DomainSpec;
  uuid: string;
  virtType: VirtType;
  mac?: string;
  createdAt: string;
}

export interface StoredSnapshot {
  name: string;
  description?: string;
  createdAt: string;
  domainState: DomainState;
  parent?: string;
}

export interface SnapshotIndex {
  current?: string;
  snapshots: StoredSnapshot[];
}

/**
 * One folder per domain under `<stateDir>/domains/<vmId>/`: domain.json, snapshots.json, and
 * while it runs the pidfile and VNC secret; QMP sockets live in `<stateDir>/qmp/`, VNC sockets in
 * `<stateDir>/vnc/`, guest agent sockets in `<stateDir>/qga/`. JSON writes go through a rename so a
 * crash never leaves a half-written file.
 */
export class DomainStore {
  constructor(readonly stateDir: string) {}

  dir(vmId: string): string {
    assertVmId(vmId);
    return join(this.stateDir, 'domains', vmId);
  }

  /**
   * Unix socket paths are limited to 107 bytes, so sockets sit in a flat folder near the top
   * of the state folder rather than inside each domain's folder.
   */
  qmpSocket(vmId: string): string {
    assertVmId(vmId);
    return join(this.stateDir, 'qmp', `${vmId}.sock`);
  }

  /** The VNC server's socket, beside the QMP ones for the same length limit. */
  vncSocket(vmId: string): string {
    assertVmId(vmId);
    return join(this.stateDir, 'vnc', `${vmId}.sock`);
  }

  /** The guest agent's chardev socket (QEMU listens, the adapter connects), for the same reason here. */
  qgaSocket(vmId: string): string {
    assertVmId(vmId);
    return join(this.stateDir, 'qga', `${vmId}.sock`);
  }

  pidFile(vmId: string): string {
    return join(this.dir(vmId), 'qemu.pid');
  }

  vncSecretFile(vmId: string): string {
    return join(this.dir(vmId), 'vnc.secret');
  }

  async list(): Promise<string[]> {
    try {
      return await readdir(join(this.stateDir, 'domains'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  async read(vmId: string): Promise<StoredDomain | undefined> {
    const stored = await this.readJson<StoredDomain>(join(this.dir(vmId), 'domain.json'));
    return stored ? upgradeStoredDomain(stored) : undefined;
  }

  async write(domain: StoredDomain): Promise<void> {
    const dir = this.dir(domain.spec.vmId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await this.writeJson(join(dir, 'domain.json'), domain);
  }

  async remove(vmId: string): Promise<void> {
    await rm(this.dir(vmId), { recursive: true, force: true });
  }

  async readSnapshots(vmId: string): Promise<SnapshotIndex> {
    return (await this.readJson<SnapshotIndex>(join(this.dir(vmId), 'snapshots.json'))) ?? { snapshots: [] };
  }

  async writeSnapshots(vmId: string, index: SnapshotIndex): Promise<void> {
    await this.writeJson(join(this.dir(vmId), 'snapshots.json'), index);
  }

  private async readJson<T>(path: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as T;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  private async writeJson(path: string, value: unknown): Promise<void> {
    // A temporary name of its own per write: two concurrent writes of the same file must not
    // share (and interleave in) one temporary file.
    const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const file = await open(temporary, 'w', 0o600);
      try {
        await file.writeFile(JSON.stringify(value, null, 2));
        // Flushed before the rename, so a crash leaves either the old or the new file whole.
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => undefined);
      throw error;
    }
  }
}
