import { Injectable, Logger } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import { AuditEntry } from './audit-entry.entity';
import { AuditRepository, NewAuditEntry } from './audit.repository';
import { AuditQueryDto } from './dto/audit.dto';

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

  constructor(private readonly entries: AuditRepository) {}

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
      await this.entries.append(entry);
    } catch (error) {
      this.logger.error({ err: error, action: entry.action }, 'could not write an audit record');
    }
  }

  list(query: AuditQueryDto): Promise<{ items: AuditEntry[]; nextCursor: string | null }> {
    return this.entries.page(query);
  }
}
