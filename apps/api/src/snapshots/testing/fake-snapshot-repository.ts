import { randomUUID } from 'node:crypto';
import { Tx } from '../../database/transaction';
import { Snapshot } from '../snapshot.entity';
import { SnapshotRepository } from '../snapshot.repository';

/** SnapshotRepository in memory, for unit specs: the (VM, name) key and generated ids and timestamps. */
export class FakeSnapshotRepository {
  readonly rows = new Map<string, Snapshot>();

  async find(id: string): Promise<Snapshot | null> {
    const snapshot = this.rows.get(id);
    return snapshot ? Object.assign(new Snapshot(), snapshot) : null;
  }

  async findOfVm(_tx: Tx, vmId: string, id: string): Promise<Snapshot | null> {
    const snapshot = await this.find(id);
    return snapshot?.vmId === vmId ? snapshot : null;
  }

  async insertIfNameFree(_tx: Tx, snapshot: Snapshot): Promise<boolean> {
    if ([...this.rows.values()].some((row) => row.vmId === snapshot.vmId && row.name === snapshot.name)) return false;
    Object.assign(snapshot, { id: randomUUID(), createdAt: new Date(), updatedAt: new Date() });
    this.rows.set(snapshot.id, Object.assign(new Snapshot(), snapshot));
    return true;
  }

  async update(id: string, changes: Partial<Pick<Snapshot, 'state' | 'sizeMiB'>>, _tx?: Tx): Promise<void> {
    const snapshot = this.rows.get(id);
    if (snapshot) this.rows.set(id, Object.assign(new Snapshot(), snapshot, changes));
  }

  async ofSchedule(scheduleId: string): Promise<Snapshot[]> {
    return [...this.rows.values()]
      .filter((row) => row.scheduleId === scheduleId)
      .map((row) => Object.assign(new Snapshot(), row));
  }

  async delete(id: string): Promise<void> {
    this.rows.delete(id);
  }

  async deleteOfVm(vmId: string, _tx?: Tx): Promise<void> {
    for (const [id, row] of this.rows) if (row.vmId === vmId) this.rows.delete(id);
  }

  /** Typed as the real one, for constructors. */
  get asRepository(): SnapshotRepository {
    return this as unknown as SnapshotRepository;
  }
}
