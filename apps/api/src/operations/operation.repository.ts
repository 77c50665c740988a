import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { NewOperation, OperationKind } from './operation-kinds';
import { Operation, OperationError, OperationStatus } from './operation.entity';

/** An operation nobody may be executing: see OperationRunner.recover. */
export interface UnfinishedOperation {
  id: string;
  claimedBy: string | null;
  /** Its heartbeat (or, never claimed, its creation) is older than the stale window. */
  stale: boolean;
}

/** Who takes an operation: a pending one, or (takeOver) a running one still under the claim seen. */
export interface Claim {
  claimedBy: string;
  takeOver?: { claimedBy: string | null };
}

/** The one owner of the `operations` table's SQL. */
@Injectable()
export class OperationRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /**
   * Inserts a pending operation in `tx`; null when the VM already has an active one (the partial
   * unique index). The conflict is skipped rather than caught: the error would abort the
   * surrounding transaction, and a savepoint around the insert costs two more round trips on every
   * mutating request. The only other unique key is the generated primary key.
   */
  async insertUnlessActive<K extends OperationKind>(tx: Tx, op: NewOperation<K>): Promise<Operation<K> | null> {
    const entity = Object.assign(new Operation<K>(), {
      kind: op.kind,
      ownerId: op.ownerId,
      vmId: op.vmId,
      params: op.params ?? {},
      status: 'pending' as const,
    });
    return (await this.insert(tx, entity, { ifNoConflict: true })) ? entity : null;
  }

  find(id: string): Promise<Operation | null> {
    return this.manager().findOneBy(Operation, { id });
  }

  /** The first operation of `kind` on a VM (its `vm.create`, say), or null. */
  firstOfVm<K extends OperationKind>(vmId: string, kind: K, tx?: Tx): Promise<Operation<K> | null> {
    return this.manager(tx).findOne(Operation, {
      where: { vmId, kind },
      order: { createdAt: 'ASC' },
    }) as Promise<Operation<K> | null>;
  }

  /** One page, newest first: `ownerId`'s operations, or everyone's. */
  page(ownerId: string | undefined, page: PageQueryDto): Promise<{ items: Operation[]; nextCursor: string | null }> {
    const query = this.manager().createQueryBuilder(Operation, 'op');
    if (ownerId !== undefined) query.where('op.ownerId = :ownerId', { ownerId });
    return paginate(query, page);
  }

  /** The status alone, for polling; null when the operation is gone. */
  async statusOf(id: string): Promise<OperationStatus | null> {
    const [row] = await this.query<{ status: OperationStatus }>(
      undefined,
      `SELECT status FROM operations WHERE id = $1`,
      [id],
    );
    return row?.status ?? null;
  }

  /** Every pending or running operation, with whether it has gone stale (older than `staleSeconds`). */
  async unfinished(staleSeconds: number): Promise<UnfinishedOperation[]> {
    const rows = await this.query<{ id: string; claimed_by: string | null; stale: boolean }>(
      undefined,
      `SELECT id, claimed_by, coalesce(heartbeat_at, created_at) < now() - make_interval(secs => $1) AS stale
       FROM operations WHERE status IN ('pending', 'running')`,
      [staleSeconds],
    );
    return rows.map((row) => ({ id: row.id, claimedBy: row.claimed_by, stale: row.stale }));
  }

  /**
   * Compare-and-swap: a pending operation, or (taking over) a running one still under the claim
   * seen. Two replicas can never both win the same operation. Null when this one lost.
   */
  async claim(id: string, claim: Claim): Promise<Operation | null> {
    const [rows] = await this.query<Record<string, unknown>[]>(
      undefined,
      `UPDATE operations SET status = 'running', claimed_by = $2, heartbeat_at = now(), started_at = coalesce(started_at, now()), updated_at = now()
       WHERE id = $1 AND (status = 'pending' OR ($3::boolean AND status = 'running' AND claimed_by IS NOT DISTINCT FROM $4))
       RETURNING *`,
      [id, claim.claimedBy, claim.takeOver !== undefined, claim.takeOver?.claimedBy ?? null],
    );
    return rows.length ? this.fromRow(Operation, rows[0]) : null;
  }

  /** Keeps a claim alive; a claim taken over meanwhile is left alone. */
  async heartbeat(id: string, claimedBy: string): Promise<void> {
    await this.query(undefined, `UPDATE operations SET heartbeat_at = now() WHERE id = $1 AND claimed_by = $2`, [
      id,
      claimedBy,
    ]);
  }

  /** Records the end and releases the claim; null when the operation is gone. */
  async finish(
    id: string,
    status: OperationStatus,
    result: Record<string, unknown> | null,
    error: OperationError | null,
  ): Promise<Operation | null> {
    const [rows] = await this.query<Record<string, unknown>[]>(
      undefined,
      `UPDATE operations SET status = $2, result = $3, error = $4, finished_at = now(), updated_at = now(), claimed_by = NULL, heartbeat_at = NULL WHERE id = $1 RETURNING *`,
      [id, status, result === null ? null : JSON.stringify(result), error === null ? null : JSON.stringify(error)],
    );
    return rows.length ? this.fromRow(Operation, rows[0]) : null;
  }
}
