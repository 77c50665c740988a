import { DataSource, DeepPartial, EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';

/**
 * Inserts an entity made with `manager.create` and fills in what the database generated (id,
 * timestamps, defaults) from RETURNING. One statement: `save()` wraps a lone insert in a
 * transaction of its own, two more round trips on paths every operation takes. With
 * `ifNoConflict`, a row refused by a unique key is skipped (ON CONFLICT DO NOTHING) instead of
 * failing the surrounding transaction. Returns whether the row was inserted.
 */
export async function insertEntity<T extends ObjectLiteral>(
  manager: EntityManager,
  entity: T,
  options: { ifNoConflict?: boolean } = {},
): Promise<boolean> {
  // The cast: TypeORM's deep-partial type does not accept the jsonb Record columns.
  const insert = manager
    .createQueryBuilder()
    .insert()
    .into(entity.constructor)
    .values(entity as QueryDeepPartialEntity<T>);
  const result = await (options.ifNoConflict ? insert.orIgnore() : insert).execute();
  return (result.raw as unknown[]).length > 0;
}

/**
 * The entity for a row a raw statement returned (`UPDATE … RETURNING *`), so a write need not be
 * followed by a SELECT. Columns map by their metadata; values are as the pg driver parsed them
 * (timestamptz → Date, jsonb → objects), as TypeORM would have them. Only for entities without
 * column transformers or embedded columns.
 */
export function entityFromRow<T extends ObjectLiteral>(
  dataSource: DataSource,
  target: EntityTarget<T>,
  row: Record<string, unknown>,
): T {
  const metadata = dataSource.getMetadata(target);
  const plain: Record<string, unknown> = {};
  for (const column of metadata.columns) plain[column.propertyName] = row[column.databaseName];
  return dataSource.manager.create(target, plain as DeepPartial<T>);
}
