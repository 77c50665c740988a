import { DataSource } from 'typeorm';

/** How long shutdown waits for queries still running before closing the pool regardless. */
export const DRAIN_TIMEOUT_MS = 5_000;
const POLL_MS = 20;

/**
 * Makes `dataSource.destroy()` wait (at most `timeoutMs`) until no query runner holds a connection.
 *
 * The HTTP server closes before the database (Nest's shutdown order), but a handler whose client has
 * already disconnected keeps running and querying. TypeORM's destroy() then releases every runner
 * still connected, its query still executing, back to the pool, where requests waiting for a
 * connection get it: two queries on one client at once (pg: "Calling client.query() when the client
 * is already executing a query", seen when the read-throughput bench stopped the api under load), and
 * inside a transaction a foreign query would run in someone else's transaction.
 */
export function drainBeforeDestroy(dataSource: DataSource, timeoutMs = DRAIN_TIMEOUT_MS): DataSource {
  const destroy = dataSource.destroy.bind(dataSource);
  dataSource.destroy = async () => {
    const runners = (dataSource.driver as unknown as { connectedQueryRunners?: unknown[] }).connectedQueryRunners ?? [];
    for (const deadline = Date.now() + timeoutMs; runners.length > 0 && Date.now() < deadline;)
      await new Promise((r) => setTimeout(r, POLL_MS));
    return destroy();
  };
  return dataSource;
}
