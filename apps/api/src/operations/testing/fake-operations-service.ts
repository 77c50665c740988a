import { HttpStatus } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AppException, ErrorCode } from '../../common/problem';
import { Tx } from '../../database/transaction';
import { NewEvent } from '../../events/events.service';
import { IdempotentRequest } from '../../idempotency/idempotency-key.decorator';
import { IdempotencyService } from '../../idempotency/idempotency.service';
import { NewOperation, OperationKind, OperationParams } from '../operation-kinds';
import { Operation } from '../operation.entity';
import { OperationsService } from '../operations.service';

/**
 * OperationsService's accept and create in memory, for unit specs of the services that start
 * work: the real IdempotencyService around the work, one active operation per VM (as the partial
 * unique index), and what would go out after commit kept in `announced` and `submitted`.
 */
export class FakeOperationsService {
  readonly rows = new Map<string, Operation>();
  readonly announced: NewEvent[] = [];
  readonly submitted: string[] = [];

  constructor(private readonly idempotency: IdempotencyService) {}

  async accept<R>(
    ownerId: string,
    idem: IdempotentRequest | undefined,
    work: (tx: Tx) => Promise<{ op: Operation | null; events?: NewEvent[]; result: R }>,
  ): Promise<R> {
    let committed: { op: Operation | null; events: NewEvent[] } | null = null;
    const result = await this.idempotency.execute(ownerId, idem, async (tx) => {
      const { op, events = [], result } = await work(tx);
      committed = { op, events };
      return result;
    });
    const done = committed as { op: Operation | null; events: NewEvent[] } | null;
    if (done) {
      this.announced.push(...done.events);
      if (done.op) this.submitted.push(done.op.id);
    }
    return result;
  }

  async create<K extends OperationKind>(_tx: Tx, op: NewOperation<K>): Promise<Operation<K>> {
    const active = [...this.rows.values()].some(
      (row) => op.vmId && row.vmId === op.vmId && (row.status === 'pending' || row.status === 'running'),
    );
    if (active) {
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.OPERATION_IN_PROGRESS, 'Another operation is in progress');
    }
    const created = Object.assign(new Operation<K>(), {
      id: randomUUID(),
      kind: op.kind,
      ownerId: op.ownerId,
      vmId: op.vmId,
      params: op.params ?? {},
      status: 'pending',
      result: null,
      error: null,
      claimedBy: null,
      heartbeatAt: null,
      createdAt: new Date(),
      startedAt: null,
      finishedAt: null,
      updatedAt: new Date(),
    });
    this.rows.set(created.id, created);
    return created;
  }

  async createParamsOf(vmId: string, _tx?: Tx): Promise<OperationParams['vm.create'] | null> {
    const op = [...this.rows.values()].find((row) => row.vmId === vmId && row.kind === 'vm.create');
    return (op?.params as OperationParams['vm.create'] | undefined) ?? null;
  }

  /** Ends an operation as the runner would. */
  finish(id: string, status: 'succeeded' | 'failed' = 'succeeded'): void {
    this.rows.set(id, Object.assign(new Operation(), this.rows.get(id), { status, finishedAt: new Date() }));
  }

  /** Typed as the real one, for constructors. */
  get asService(): OperationsService {
    return this as unknown as OperationsService;
  }
}
