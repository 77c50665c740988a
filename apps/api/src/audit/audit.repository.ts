import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { TableRepository } from '../database/table-repository';
import { AuditEntry } from './audit-entry.entity';
import { AuditQueryDto } from './dto/audit.dto';
import { fitToColumns } from './storable';

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'createdAt'>;

/** The one owner of `audit_log` (append-only: the table refuses UPDATE, DELETE and TRUNCATE). */
@Injectable()
export class AuditRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** Appends a record, its request-derived values fitted to their columns (see fitToColumns). */
  async append(entry: NewAuditEntry): Promise<void> {
    const fitted = fitToColumns(entry, this.dataSource.getMetadata(AuditEntry).columns);
    await this.insert(undefined, this.manager().create(AuditEntry, fitted));
  }

  /** One page, newest first, filtered by actor, action, target and time range. */
  page(query: AuditQueryDto): Promise<{ items: AuditEntry[]; nextCursor: string | null }> {
    const qb = this.manager().createQueryBuilder(AuditEntry, 'entry');
    if (query.actorId) qb.andWhere('entry.actorId = :actorId', { actorId: query.actorId });
    if (query.action) qb.andWhere('entry.action = :action', { action: query.action });
    if (query.targetId) qb.andWhere('entry.targetId = :targetId', { targetId: query.targetId });
    if (query.from) qb.andWhere('entry.createdAt >= :from', { from: query.from });
    if (query.to) qb.andWhere('entry.createdAt < :to', { to: query.to });
    return paginate(qb, query as PageQueryDto);
  }
}
