import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { TableRepository } from '../database/table-repository';
import { Schedule } from './schedule.entity';

/** What a PATCH may change (and the next slot it implies). */
export type ScheduleChanges = Partial<
  Pick<Schedule, 'cron' | 'timeZone' | 'keepLast' | 'keepDays' | 'enabled' | 'nextRunAt'>
>;

/** What a run leaves on its schedule. */
export interface RunRecord {
  lastOperationId: string | null;
  lastError: string | null;
}

/** The one owner of the `schedules` table's SQL. */
@Injectable()
export class ScheduleRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** A VM's schedules, newest first. */
  pageOfVm(vmId: string, page: PageQueryDto): Promise<{ items: Schedule[]; nextCursor: string | null }> {
    return paginate(
      this.manager().createQueryBuilder(Schedule, 'schedule').where('schedule.vmId = :vmId', { vmId }),
      page,
    );
  }

  countOfVm(vmId: string): Promise<number> {
    return this.manager().countBy(Schedule, { vmId });
  }

  findOfVm(vmId: string, id: string): Promise<Schedule | null> {
    return this.manager().findOneBy(Schedule, { id, vmId });
  }

  async create(schedule: Schedule): Promise<Schedule> {
    await this.insert(undefined, schedule);
    return schedule;
  }

  /**
   * Applies `changes` if the row is still at `version` (bumping it); null when it is gone or another
   * writer (a PATCH, a run's claim) got there first.
   */
  async updateAtVersion(id: string, version: number, changes: ScheduleChanges): Promise<Schedule | null> {
    const result = await this.manager()
      .createQueryBuilder()
      .update(Schedule)
      .set({ ...changes, version: () => 'version + 1' })
      .where('id = :id AND version = :version', { id, version })
      .returning('*')
      .execute();
    const [row] = result.raw as Record<string, unknown>[];
    return row ? this.fromRow(Schedule, row) : null;
  }

  /** True when it existed. */
  async delete(vmId: string, id: string): Promise<boolean> {
    const result = await this.manager().delete(Schedule, { id, vmId });
    return (result.affected ?? 0) > 0;
  }

  /** Enabled schedules whose slot has come, the longest waiting first. */
  async due(now: Date, limit: number): Promise<Schedule[]> {
    const rows = await this.query(
      undefined,
      `SELECT * FROM schedules WHERE enabled AND next_run_at <= $1 ORDER BY next_run_at, id LIMIT $2`,
      [now, limit],
    );
    return rows.map((row) => this.fromRow(Schedule, row));
  }

  /** Schedules with a retention rule, whose copies may need trimming. */
  async withRetention(): Promise<Schedule[]> {
    const rows = await this.query(
      undefined,
      `SELECT * FROM schedules WHERE keep_last IS NOT NULL OR keep_days IS NOT NULL ORDER BY id`,
    );
    return rows.map((row) => this.fromRow(Schedule, row));
  }

  /**
   * Takes the slot `due` of an enabled schedule, moving it on to `next`: the compare-and-set that lets
   * exactly one replica run a slot. The row as it now is, or null when another replica took the
   * slot, it was disabled, re-timed or deleted in between.
   */
  async claim(id: string, due: Date, next: Date): Promise<Schedule | null> {
    // An UPDATE answers [rows, count] through TypeORM's query().
    const [rows] = await this.manager().query(
      `UPDATE schedules SET next_run_at = $3, last_run_at = now(), version = version + 1, updated_at = now()
       WHERE id = $1 AND next_run_at = $2 AND enabled RETURNING *`,
      [id, due, next],
    );
    return rows.length ? this.fromRow(Schedule, rows[0] as Record<string, unknown>) : null;
  }

  /**
   * Gives a claimed slot back (its run found the VM busy), so a later tick claims it again: only
   * if the schedule still waits for the `next` slot the claim set.
   */
  async release(id: string, slot: Date, next: Date): Promise<boolean> {
    const [, count] = await this.manager().query(
      `UPDATE schedules SET next_run_at = $2, version = version + 1, updated_at = now()
       WHERE id = $1 AND next_run_at = $3 AND enabled`,
      [id, slot, next],
    );
    return count > 0;
  }

  /** Records how the run of a claimed slot went. */
  async recordRun(id: string, record: RunRecord): Promise<void> {
    await this.query(
      undefined,
      `UPDATE schedules SET last_operation_id = $2, last_error = $3, version = version + 1, updated_at = now()
       WHERE id = $1`,
      [id, record.lastOperationId, record.lastError],
    );
  }
}
