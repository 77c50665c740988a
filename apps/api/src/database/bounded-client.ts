import { Client, ClientConfig } from 'pg';

/**
 * The longest a query may wait for its answer. Every query LIMEN runs takes milliseconds; this
 * only bounds a request (and frees its connection) when the database stops answering without
 * closing the connection: a network partition, a hung server or proxy.
 */
export const QUERY_TIMEOUT_MS = 10_000;
/** The longest opening a connection may take (TCP and PostgreSQL's start-up). */
export const CONNECT_TIMEOUT_MS = 5_000;

const READ_TIMEOUT = 'Query read timeout';

/**
 * A pg Client whose timed-out query also drops the connection.
 *
 * pg's own `query_timeout` fails the query but keeps the connection, still waiting for the answer
 * to the abandoned query: back in the pool, every later query on it would time out too, for as
 * long as the silent connection lasts (without a FIN or RST, that is until TCP gives up, many
 * minutes). Destroying the socket makes pg fail the connection with an 'error', on which TypeORM
 * releases it to the pool as broken and the pool discards it; the next query opens a new one,
 * which either works or fails fast (CONNECT_TIMEOUT_MS).
 */
export class BoundedClient extends Client {
  private watchdog?: NodeJS.Timeout;

  constructor(config: ClientConfig) {
    super({ query_timeout: QUERY_TIMEOUT_MS, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, ...config });
    const query = this.query.bind(this) as (...args: unknown[]) => unknown;
    this.query = ((...args: unknown[]) => {
      const callback = args[args.length - 1];
      if (typeof callback === 'function') {
        // pg-pool's pool.query() and other callback callers.
        args[args.length - 1] = (error: Error | null, result: unknown) => {
          this.dropIfTimedOut(error);
          (callback as (error: Error | null, result: unknown) => void)(error, result);
        };
        return query(...args);
      }
      const result = query(...args);
      if (result instanceof Promise) result.catch((error: Error) => this.dropIfTimedOut(error));
      return result;
    }) as Client['query'];
  }

  /**
   * For a long-lived dedicated session (an advisory lock, a LISTEN), which hears of a lost database
   * only from its socket: asks the server something every `intervalMs`, so a silent connection
   * (which would keep a leader that no longer holds its lock, or a listener that no longer hears)
   * is dropped within `intervalMs` + QUERY_TIMEOUT_MS, and its owner's 'error'/'end' handlers reconnect.
   */
  watch(intervalMs: number): void {
    clearInterval(this.watchdog);
    let asking = false;
    this.watchdog = setInterval(() => {
      if (asking) return;
      asking = true;
      this.query('SELECT 1')
        .catch(() => undefined)
        .finally(() => (asking = false));
    }, intervalMs).unref();
    this.once('end', () => clearInterval(this.watchdog));
  }

  private dropIfTimedOut(error: Error | null): void {
    if (error?.message === READ_TIMEOUT) this.connection.stream.destroy();
  }
}
