import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { insertEntity } from '../database/entity-rows';
import { managerOf, Tx } from '../database/transaction';
import { EventRecord } from '../events/event.entity';
import { EventsService, NewEvent } from '../events/events.service';
import { IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { AuthUser } from '../auth/decorators';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { AppException, ErrorCode } from '../common/problem';
import { Operation } from './operation.entity';
import { OperationRunner } from './operation-runner';

@Injectable()
export class OperationsService {
  constructor(
    @InjectRepository(Operation) private readonly operations: Repository<Operation>,
    private readonly runner: OperationRunner,
    private readonly idempotency: IdempotencyService,
    private readonly events: EventsService,
  ) {}

  /**
   * The shape of every request that starts hypervisor work: one transaction for
   * the rule checks, the rows, the operation (if any), its events and the
   * idempotency record; after commit the events go out and the operation starts. `result` is what
   * the request answers (see ResourceResponse), recorded as such for a replay.
   */
  async accept<R>(
    ownerId: string,
    idem: IdempotentRequest | undefined,
    work: (tx: Tx) => Promise<{ op: Operation | null; events?: NewEvent[]; result: R }>,
  ): Promise<R> {
    let committed: { op: Operation | null; records: EventRecord[] } | null = null;
    const result = await this.idempotency.execute(ownerId, idem, async (tx) => {
      const { op, events = [], result } = await work(tx);
      const all = op
        ? [
            ...events,
            {
              type: 'operation.updated',
              ownerId: op.ownerId,
              vmId: op.vmId,
              payload: { id: op.id, kind: op.kind, status: op.status, vmId: op.vmId, error: null },
            },
          ]
        : events;
      const records: EventRecord[] = [];
      for (const event of all) records.push(await this.events.append(managerOf(tx), event));
      committed = { op, records };
      return result;
    });
    const done = committed as { op: Operation | null; records: EventRecord[] } | null;
    if (done) {
      this.events.announce(done.records);
      if (done.op) this.runner.submit(done.op.id);
    }
    return result;
  }

  /**
   * Inserts a pending operation in the caller's transaction. The partial unique
   * index refuses a second active operation on the same VM: 409 OPERATION_IN_PROGRESS.
   */
  async create(
    manager: EntityManager,
    op: { kind: string; ownerId: string; vmId: string | null; params?: Record<string, unknown> },
  ): Promise<Operation> {
    const entity = manager.create(Operation, { ...op, params: op.params ?? {}, status: 'pending' });
    // Skipping the conflict rather than catching it: the error would abort the surrounding
    // transaction, and a savepoint around the insert costs two more round trips on every mutating
    // request. The only other unique key is the generated primary key.
    if (!(await insertEntity(manager, entity, { ifNoConflict: true }))) {
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.OPERATION_IN_PROGRESS,
        'Another operation on this VM is still in progress',
      );
    }
    return entity;
  }

  /** Owner or admin; anyone else gets 404, as if it did not exist. */
  async get(user: AuthUser, id: string): Promise<Operation> {
    const op = await this.operations.findOneBy({ id });
    if (!op || (user.role !== 'admin' && op.ownerId !== user.id)) throw AppException.notFound('Operation');
    return op;
  }

  list(user: AuthUser, page: PageQueryDto): Promise<{ items: Operation[]; nextCursor: string | null }> {
    const query = this.operations.createQueryBuilder('op');
    if (user.role !== 'admin') query.where('op.ownerId = :ownerId', { ownerId: user.id });
    return paginate(query, page);
  }

  async wait(user: AuthUser, id: string, timeoutSeconds: number): Promise<Operation> {
    const op = await this.get(user, id);
    if (op.status !== 'pending' && op.status !== 'running') return op;
    return (await this.runner.waitForEnd(id, timeoutSeconds * 1000)) ?? this.get(user, id);
  }
}
