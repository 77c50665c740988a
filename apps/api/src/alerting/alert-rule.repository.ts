import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, DeepPartial, In } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { AlertRule } from './alert-rule.entity';

/** The one owner of the `alert_rules` table's SQL. */
@Injectable()
export class AlertRuleRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  page(page: PageQueryDto): Promise<{ items: AlertRule[]; nextCursor: string | null }> {
    return paginate(this.manager().createQueryBuilder(AlertRule, 'rule'), page);
  }

  find(id: string): Promise<AlertRule | null> {
    return this.manager().findOneBy(AlertRule, { id });
  }

  /** Every rule, disabled ones too (in `tx`, to see them as the evaluation's lock holder does). */
  findAll(tx?: Tx): Promise<AlertRule[]> {
    return this.manager(tx).find(AlertRule);
  }

  findEnabled(): Promise<AlertRule[]> {
    return this.manager().findBy(AlertRule, { enabled: true });
  }

  findByIds(ids: string[], tx?: Tx): Promise<AlertRule[]> {
    return this.manager(tx).findBy(AlertRule, { id: In(ids) });
  }

  /** Inserts a new rule or updates a loaded one; a taken name throws a unique violation (see isUniqueViolation). */
  save(rule: DeepPartial<AlertRule>): Promise<AlertRule> {
    const manager = this.manager();
    return manager.save(manager.create(AlertRule, rule));
  }

  /** False when there was no such rule. Its alerts and silences go with it (ON DELETE CASCADE). */
  async delete(id: string): Promise<boolean> {
    const result = await this.manager().delete(AlertRule, { id });
    return Boolean(result.affected);
  }
}
