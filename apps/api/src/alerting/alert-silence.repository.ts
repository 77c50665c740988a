import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In, MoreThan } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { AlertSilence } from './alert-silence.entity';

/** The one owner of the `alert_silences` table's SQL. */
@Injectable()
export class AlertSilenceRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** The silences still in force at `now`, of the given rules only when `ruleIds` is given. */
  activeAt(now: Date, options: { ruleIds?: string[]; tx?: Tx } = {}): Promise<AlertSilence[]> {
    const { ruleIds, tx } = options;
    return this.manager(tx).findBy(AlertSilence, {
      ...(ruleIds ? { ruleId: In(ruleIds) } : {}),
      until: MoreThan(now),
    });
  }

  /** Sets the silence of a rule and subject (replacing the one there may be). */
  async put(tx: Tx, silence: Pick<AlertSilence, 'ruleId' | 'subject' | 'until' | 'createdBy'>): Promise<void> {
    await this.manager(tx).upsert(AlertSilence, silence, ['ruleId', 'subject']);
  }

  async delete(tx: Tx, ruleId: string, subject: string): Promise<void> {
    await this.manager(tx).delete(AlertSilence, { ruleId, subject });
  }
}
