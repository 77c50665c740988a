import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, DeepPartial, In } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { AlertState } from './alert-metrics';
import { Alert } from './alert.entity';

/** Arbitrary but fixed, and distinct from the reconciler's: elects the one replica evaluating. */
const EVALUATION_LOCK_KEY = 0x4c494d41;

/** The one owner of the `alerts` table's SQL (alert instances). */
@Injectable()
export class AlertRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /**
   * Takes the evaluation's advisory lock for the rest of `tx`, if no other replica holds it: the
   * write phase of an evaluation round runs only under it.
   */
  async tryLockEvaluation(tx: Tx): Promise<boolean> {
    const [{ locked }] = await this.query<{ locked: boolean }>(tx, `SELECT pg_try_advisory_xact_lock($1) AS locked`, [
      EVALUATION_LOCK_KEY,
    ]);
    return locked;
  }

  page(page: PageQueryDto, state?: AlertState): Promise<{ items: Alert[]; nextCursor: string | null }> {
    const builder = this.manager().createQueryBuilder(Alert, 'alert');
    if (state) builder.where('alert.state = :state', { state });
    return paginate(builder, page);
  }

  find(id: string, tx?: Tx, options: { lock?: boolean } = {}): Promise<Alert | null> {
    return this.manager(tx).findOne(Alert, {
      where: { id },
      ...(options.lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
  }

  /** The pending and firing instances. */
  findOpen(tx: Tx): Promise<Alert[]> {
    return this.manager(tx).find(Alert, { where: { state: In(['pending', 'firing']) } });
  }

  /** Inserts a new instance or updates a loaded one; returns it as stored. */
  save(tx: Tx, alert: DeepPartial<Alert>): Promise<Alert> {
    const manager = this.manager(tx);
    return manager.save(manager.create(Alert, alert));
  }

  async delete(tx: Tx, id: string): Promise<void> {
    await this.manager(tx).delete(Alert, { id });
  }

  async recordAck(tx: Tx, id: string, userId: string, at: Date): Promise<void> {
    await this.manager(tx).update(Alert, { id }, { ackedBy: userId, ackedAt: at });
  }

  /** Firing instances per severity of their rule (severities with none are absent). */
  firingCountsBySeverity(): Promise<Array<{ severity: string; count: number }>> {
    return this.query(
      undefined,
      `SELECT r.severity, count(*)::int AS count FROM alerts a JOIN alert_rules r ON r.id = a.rule_id WHERE a.state = 'firing' GROUP BY r.severity`,
    );
  }
}
