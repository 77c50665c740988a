import type { Pool, QueryResultRow } from 'pg';
import { DataSource } from 'typeorm';

/**
 * For the hottest read paths only (the JWT guard's user check, the VM list): one SQL statement
 * sent straight to the `pg` pool behind TypeORM's DataSource, as a named prepared statement.
 * No query builder, no entity metadata, no hydration (in the read-throughput bench's profile
 * those cost more than the query itself), and PostgreSQL parses and plans each statement once
 * per connection. It is the same pool, connections and error codes as TypeORM's, so a lost
 * database still answers 503 (see isDatabaseUnavailable) and recovers the same way.
 *
 * `name` must identify `text` exactly: a connection that prepared `name` reuses it.
 */
export async function preparedQuery<R extends QueryResultRow>(
  dataSource: DataSource,
  name: string,
  text: string,
  values: unknown[],
): Promise<R[]> {
  const pool = (dataSource.driver as unknown as { master: Pool }).master;
  return (await pool.query<R>({ name, text, values })).rows;
}
