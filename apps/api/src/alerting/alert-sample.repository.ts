import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';

/**
 * The alert sampler's read of the `hosts` table, until the hosts module has a repository to hold
 * it (then it moves there, unchanged, and this file goes).
 */
@Injectable()
export class AlertSampleRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** Enabled hosts as the host monitor last saw them; a host not checked yet is left out rather than guessed. */
  checkedHostStatuses(tx: Tx): Promise<Array<{ name: string; status: string }>> {
    return this.query(tx, `SELECT name, status FROM hosts WHERE enabled AND status <> 'unknown'`);
  }
}
