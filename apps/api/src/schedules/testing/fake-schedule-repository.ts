import { randomUUID } from 'node:crypto';
import { PageQueryDto } from '../../common/page-query.dto';
import { Schedule } from '../schedule.entity';
import { RunRecord, ScheduleChanges, ScheduleRepository } from '../schedule.repository';

/**
 * ScheduleRepository in memory, for unit specs: versions, and the claim's compare-and-set (each
 * statement is atomic here as it is in PostgreSQL: nothing awaits between its read and its write).
 */
export class FakeScheduleRepository {
  readonly rows = new Map<string, Schedule>();

  constructor(...schedules: Schedule[]) {
    for (const schedule of schedules) this.rows.set(schedule.id, schedule);
  }

  private copy(schedule: Schedule): Schedule {
    return Object.assign(new Schedule(), schedule);
  }

  async pageOfVm(vmId: string, page: PageQueryDto): Promise<{ items: Schedule[]; nextCursor: string | null }> {
    const items = [...this.rows.values()].filter((s) => s.vmId === vmId).reverse();
    return { items: items.slice(0, page.limit).map((s) => this.copy(s)), nextCursor: null };
  }

  async countOfVm(vmId: string): Promise<number> {
    return [...this.rows.values()].filter((s) => s.vmId === vmId).length;
  }

  async findOfVm(vmId: string, id: string): Promise<Schedule | null> {
    const schedule = this.rows.get(id);
    return schedule?.vmId === vmId ? this.copy(schedule) : null;
  }

  async create(schedule: Schedule): Promise<Schedule> {
    const now = new Date();
    Object.assign(schedule, {
      id: randomUUID(),
      lastRunAt: null,
      lastOperationId: null,
      lastError: null,
      createdAt: now,
      updatedAt: now,
    });
    this.rows.set(schedule.id, this.copy(schedule));
    return schedule;
  }

  async updateAtVersion(id: string, version: number, changes: ScheduleChanges): Promise<Schedule | null> {
    const schedule = this.rows.get(id);
    if (!schedule || schedule.version !== version) return null;
    Object.assign(schedule, changes, { version: version + 1, updatedAt: new Date() });
    return this.copy(schedule);
  }

  async delete(vmId: string, id: string): Promise<boolean> {
    return this.rows.get(id)?.vmId === vmId && this.rows.delete(id);
  }

  async due(now: Date, limit: number): Promise<Schedule[]> {
    return [...this.rows.values()]
      .filter((s) => s.enabled && s.nextRunAt <= now)
      .sort((a, b) => a.nextRunAt.getTime() - b.nextRunAt.getTime())
      .slice(0, limit)
      .map((s) => this.copy(s));
  }

  async withRetention(): Promise<Schedule[]> {
    return [...this.rows.values()].filter((s) => s.keepLast !== null || s.keepDays !== null).map((s) => this.copy(s));
  }

  async claim(id: string, due: Date, next: Date): Promise<Schedule | null> {
    const schedule = this.rows.get(id);
    if (!schedule || !schedule.enabled || schedule.nextRunAt.getTime() !== due.getTime()) return null;
    Object.assign(schedule, { nextRunAt: next, lastRunAt: new Date(), version: schedule.version + 1 });
    return this.copy(schedule);
  }

  async release(id: string, slot: Date, next: Date): Promise<boolean> {
    const schedule = this.rows.get(id);
    if (!schedule || !schedule.enabled || schedule.nextRunAt.getTime() !== next.getTime()) return false;
    Object.assign(schedule, { nextRunAt: slot, version: schedule.version + 1 });
    return true;
  }

  async recordRun(id: string, record: RunRecord): Promise<void> {
    const schedule = this.rows.get(id);
    if (schedule) Object.assign(schedule, record, { version: schedule.version + 1 });
  }

  /** Typed as the real one, for constructors. */
  get asRepository(): ScheduleRepository {
    return this as unknown as ScheduleRepository;
  }
}
