import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Repository } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { insertEntity } from '../database/entity-rows';
import { AuditEntry } from './audit-entry.entity';
import { AuditQueryDto } from './dto/audit.dto';

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'createdAt'>;

/** NUL and unpaired surrogates: PostgreSQL cannot store the first, and jsonb refuses the second. */
// eslint-disable-next-line no-control-regex -- NUL is what it finds
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function storableText(text: string): string {
  return text.replace(UNSTORABLE, '\ufffd');
}

/** The same for every string (and key) of a JSON value bound for a jsonb column. */
export function storableJson(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [storableText(key), storableJson(item)]));
  }
  return value;
}

/** What a service adds to the audit record of the request it is serving. */
interface AuditAnnotations {
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
  targetId?: string;
  action?: string;
  actorUsername?: string;
}

@Injectable()
export class AuditService {
  private readonly logger = new Logger('Audit');
  private readonly context = new AsyncLocalStorage<AuditAnnotations>();

  constructor(@InjectRepository(AuditEntry) private readonly entries: Repository<AuditEntry>) {}

  /** Runs `work` with a fresh annotation slot; the interceptor reads it once the request ends. */
  withContext<T>(work: () => T): { result: T; annotations: AuditAnnotations } {
    const annotations: AuditAnnotations = {};
    return { result: this.context.run(annotations, work), annotations };
  }

  /**
   * Called by services while serving a request: the state before and after a
   * change, a more precise action name, or the target a create produced.
   */
  annotate(annotations: AuditAnnotations): void {
    const current = this.context.getStore();
    if (current) Object.assign(current, annotations);
  }

  /** Appends a record. An audit failure is logged loudly but never fails the request it describes. */
  async record(entry: NewAuditEntry): Promise<void> {
    try {
      await insertEntity(this.entries.manager, this.entries.create(this.storable(entry)));
    } catch (error) {
      this.logger.error({ err: error, action: entry.action }, 'could not write an audit record');
    }
  }

  /**
   * The entry as its columns can hold it. Hostile requests are the ones most worth recording, and
   * their values come from the request (path ids, usernames, body fields): a NUL, which PostgreSQL
   * text and jsonb cannot store, an unpaired surrogate, which jsonb refuses, or an id longer than
   * its column failed the insert and lost the record. Found by
   * test/reliability/property-http-surface.spec.ts.
   */
  private storable(entry: NewAuditEntry): NewAuditEntry {
    const fitted: Record<string, unknown> = { ...entry };
    for (const column of this.entries.metadata.columns) {
      const value = fitted[column.propertyName];
      if (typeof value === 'string')
        fitted[column.propertyName] = column.length
          ? Array.from(storableText(value)).slice(0, Number(column.length)).join('')
          : storableText(value);
      else if (value !== null && typeof value === 'object' && column.type === 'jsonb')
        fitted[column.propertyName] = storableJson(value);
    }
    return fitted as NewAuditEntry;
  }

  list(query: AuditQueryDto): Promise<{ items: AuditEntry[]; nextCursor: string | null }> {
    const qb = this.entries.createQueryBuilder('entry');
    if (query.actorId) qb.andWhere('entry.actorId = :actorId', { actorId: query.actorId });
    if (query.action) qb.andWhere('entry.action = :action', { action: query.action });
    if (query.targetId) qb.andWhere('entry.targetId = :targetId', { targetId: query.targetId });
    if (query.from) qb.andWhere('entry.createdAt >= :from', { from: query.from });
    if (query.to) qb.andWhere('entry.createdAt < :to', { to: query.to });
    return paginate(qb, query as PageQueryDto);
  }
}
