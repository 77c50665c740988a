import { HttpStatus, Injectable } from '@nestjs/common';
import { EventRecord } from '../events/event.entity';
import { EventsService, NewEvent } from '../events/events.service';
import { IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { AuthUser } from '../auth/decorators';
import { PageQueryDto } from '../common/page-query.dto';
import { AppException, ErrorCode } from '../common/problem';
import { Tx } from '../database/transaction';
import { NewOperation, OperationKind, OperationParams } from './operation-kinds';
import { Operation } from './operation.entity';
import { OperationRepository } from './operation.repository';
import { OperationRunner, operationUpdatedEvent } from './operation-runner';

@Injectable()
export class OperationsService {
  constructor(
    private readonly operations: OperationRepository,
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
      const all = op ? [...events, operationUpdatedEvent(op)] : events;
      const records: EventRecord[] = [];
      for (const event of all) records.push(await this.events.append(tx, event));
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
  async create<K extends OperationKind>(tx: Tx, op: NewOperation<K>): Promise<Operation<K>> {
    const created = await this.operations.insertUnlessActive(tx, op);
    if (!created) {
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.OPERATION_IN_PROGRESS,
        'Another operation on this VM is still in progress',
      );
    }
    return created;
  }

  /** The params a VM was created with (its `vm.create`), or null when that operation is gone. */
  async createParamsOf(vmId: string, tx?: Tx): Promise<OperationParams['vm.create'] | null> {
    return (await this.operations.firstOfVm(vmId, 'vm.create', tx))?.params ?? null;
  }

  /** Owner or admin; anyone else gets 404, as if it did not exist. */
  async get(user: AuthUser, id: string): Promise<Operation> {
    const op = await this.operations.find(id);
    if (!op || (user.role !== 'admin' && op.ownerId !== user.id)) throw AppException.notFound('Operation');
    return op;
  }

  list(user: AuthUser, page: PageQueryDto): Promise<{ items: Operation[]; nextCursor: string | null }> {
    return this.operations.page(user.role === 'admin' ? undefined : user.id, page);
  }

  async wait(user: AuthUser, id: string, timeoutSeconds: number): Promise<Operation> {
    const op = await this.get(user, id);
    if (op.status !== 'pending' && op.status !== 'running') return op;
    return (await this.runner.waitForEnd(id, timeoutSeconds * 1000)) ?? this.get(user, id);
  }
}
