import type { QueryResultRow } from 'pg';
import { DataSource, EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import { entityFromRow, insertEntity } from './entity-rows';
import { preparedQuery } from './prepared-query';
import { managerOf, Tx } from './transaction';

/**
 * The base of every repository: the one owner of a table's SQL. Methods take an optional `tx`
 * (from Transactions.run) to join the caller's transaction; without it they run on their own.
 */
export abstract class TableRepository {
  protected constructor(protected readonly dataSource: DataSource) {}

  protected manager(tx?: Tx): EntityManager {
    return tx ? managerOf(tx) : this.dataSource.manager;
  }

  /** Raw SQL, in `tx` when given. */
  protected query<R = Record<string, unknown>>(tx: Tx | undefined, text: string, values: unknown[] = []): Promise<R[]> {
    return this.manager(tx).query(text, values);
  }

  /** A named prepared statement straight on the pg pool, for the hottest reads (see preparedQuery). */
  protected prepared<R extends QueryResultRow>(name: string, text: string, values: unknown[]): Promise<R[]> {
    return preparedQuery<R>(this.dataSource, name, text, values);
  }

  /** Inserts an entity and fills in what the database generated (see insertEntity). */
  protected insert<T extends ObjectLiteral>(tx: Tx | undefined, entity: T, options: { ifNoConflict?: boolean } = {}) {
    return insertEntity(this.manager(tx), entity, options);
  }

  /** The entity for a row a raw `… RETURNING *` gave (see entityFromRow). */
  protected fromRow<T extends ObjectLiteral>(target: EntityTarget<T>, row: Record<string, unknown>): T {
    return entityFromRow(this.dataSource, target, row);
  }
}
