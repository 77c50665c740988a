import { HypervisorError } from '../errors/hypervisor-error';
import { SnapshotCreateSpec, SnapshotInfo } from '../models';
import { FakeDomain, FakeSnapshot, isActive, snapshotInfo } from './fake-domain';
import { FakeFileSystem } from './fake-file-system';
import { FakePower } from './fake-power';

/**
 * Internal snapshots of the fake's domains: each keeps the content of the domain's disks, and a
 * snapshot of a running domain stores its RAM in the first disk (which grows by that much).
 */
export class FakeSnapshots {
  constructor(
    private readonly files: FakeFileSystem,
    private readonly power: FakePower,
  ) {}

  create(domain: FakeDomain, spec: SnapshotCreateSpec): SnapshotInfo {
    if (domain.snapshots.some((snapshot) => snapshot.name === spec.name))
      throw new HypervisorError('INVALID_ARGUMENT', `snapshot ${spec.name} already exists`);
    const disks = new Map<string, Buffer>();
    for (const { path } of domain.config.disks) {
      const file = this.files.file(path);
      if (!file) throw new HypervisorError('OPERATION_FAILED', `cannot snapshot ${path}: No such file or directory`);
      disks.set(path, Buffer.from(file.content));
    }
    const memoryBytes = domain.live && isActive(domain.state) ? domain.live.memoryMiB * 1024 * 1024 : 0;
    this.files.charge(domain.config.disks[0]?.path ?? '', memoryBytes);
    const snapshot: FakeSnapshot = {
      name: spec.name,
      ...(spec.description !== undefined ? { description: spec.description } : {}),
      createdAt: new Date(),
      domainState: domain.state,
      ...(domain.currentSnapshot ? { parent: domain.currentSnapshot } : {}),
      disks,
      memoryBytes,
    };
    domain.snapshots.push(snapshot);
    domain.currentSnapshot = spec.name;
    return snapshotInfo(domain, snapshot);
  }

  list(domain: FakeDomain): SnapshotInfo[] {
    return domain.snapshots.map((snapshot) => snapshotInfo(domain, snapshot));
  }

  /** Disks come back; with memory state the guest runs (or is paused) as it was, without it the domain is off. */
  revert(domain: FakeDomain, name: string): void {
    const snapshot = this.require(domain, name);
    const withMemory = snapshot.domainState === 'running' || snapshot.domainState === 'paused';
    if (!withMemory && isActive(domain.state)) this.power.powerOff(domain, 'from-snapshot', 'from snapshot');
    for (const [path, content] of snapshot.disks) if (this.files.file(path)) this.files.restore(path, content);
    if (withMemory) {
      if (!isActive(domain.state)) this.power.boot(domain, 'from snapshot');
      domain.state = snapshot.domainState;
    }
    domain.currentSnapshot = name;
  }

  delete(domain: FakeDomain, name: string): void {
    const snapshot = this.require(domain, name);
    domain.snapshots = domain.snapshots
      .filter((s) => s !== snapshot)
      .map((s) => (s.parent === name ? { ...s, parent: snapshot.parent } : s));
    if (domain.currentSnapshot === name) domain.currentSnapshot = snapshot.parent;
    this.files.charge(domain.config.disks[0]?.path ?? '', -snapshot.memoryBytes);
  }

  private require(domain: FakeDomain, name: string): FakeSnapshot {
    const snapshot = domain.snapshots.find((s) => s.name === name);
    if (!snapshot) throw new HypervisorError('SNAPSHOT_NOT_FOUND', `snapshot ${name} not found`);
    return snapshot;
  }
}
