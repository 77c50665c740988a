import { randomUUID } from 'node:crypto';
import { PageQueryDto } from '../../common/page-query.dto';
import { Tx } from '../../database/transaction';
import { Backup, BackupState } from '../backup.entity';
import { BackupFilter, BackupRepository } from '../backup.repository';

/**
 * BackupRepository in memory, for unit specs. `activeWork` plays the operations table for
 * `stuck()`: the ids of backups an active operation still works on.
 */
export class FakeBackupRepository {
  readonly rows = new Map<string, Backup>();
  readonly activeWork = new Set<string>();

  async page(filter: BackupFilter, page: PageQueryDto): Promise<{ items: Backup[]; nextCursor: string | null }> {
    const items = [...this.rows.values()]
      .filter(
        (b) => (b.state === 'ready' || b.state === 'restoring') && (!filter.ownerId || b.ownerId === filter.ownerId),
      )
      .filter((b) => !filter.vmId || b.vmId === filter.vmId)
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
      .slice(0, page.limit)
      .map((b) => this.copy(b));
    return { items, nextCursor: null };
  }

  async find(id: string, _tx?: Tx, _lock?: boolean): Promise<Backup | null> {
    const backup = this.rows.get(id);
    return backup ? this.copy(backup) : null;
  }

  async ofSchedule(scheduleId: string): Promise<Backup[]> {
    return [...this.rows.values()]
      .filter((b) => b.scheduleId === scheduleId && b.state !== 'failed')
      .map((b) => this.copy(b));
  }

  async add(_tx: Tx, backup: Backup): Promise<void> {
    Object.assign(backup, { id: randomUUID(), createdAt: new Date() });
    this.rows.set(backup.id, this.copy(backup));
  }

  async update(id: string, changes: Partial<Backup>, _tx?: Tx): Promise<void> {
    const backup = this.rows.get(id);
    if (backup) this.rows.set(id, Object.assign(this.copy(backup), changes));
  }

  async setStateIf(id: string, from: BackupState, to: BackupState, _tx?: Tx): Promise<boolean> {
    const backup = this.rows.get(id);
    if (backup?.state !== from) return false;
    this.rows.set(id, Object.assign(this.copy(backup), { state: to }));
    return true;
  }

  async delete(id: string, _tx?: Tx): Promise<void> {
    this.rows.delete(id);
  }

  async existing(ids: string[]): Promise<Set<string>> {
    return new Set(ids.filter((id) => this.rows.has(id)));
  }

  async stuck(): Promise<Backup[]> {
    return [...this.rows.values()]
      .filter(
        (b) =>
          b.state === 'failed' ||
          b.state === 'deleting' ||
          ((b.state === 'creating' || b.state === 'restoring') && !this.activeWork.has(b.id)),
      )
      .map((b) => this.copy(b));
  }

  private copy(backup: Backup): Backup {
    return Object.assign(new Backup(), backup);
  }

  /** Typed as the real one, for constructors. */
  get asRepository(): BackupRepository {
    return this as unknown as BackupRepository;
  }
}
