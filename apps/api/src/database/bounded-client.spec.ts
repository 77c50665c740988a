import { AddressInfo, createServer, Server, Socket } from 'node:net';
import { BoundedClient } from './bounded-client';

/**
 * A PostgreSQL server that completes the start-up (AuthenticationOk, ReadyForQuery) and then never
 * answers again: a database gone silent behind an open connection, as in a network partition.
 */
function silentServer(): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.once('data', () => {
      const authenticationOk = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]);
      const readyForQuery = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
      socket.write(Buffer.concat([authenticationOk, readyForQuery]));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, sockets })),
  );
}

describe('BoundedClient against a database that stops answering', () => {
  let silent: Awaited<ReturnType<typeof silentServer>>;
  beforeEach(async () => (silent = await silentServer()));
  afterEach(async () => {
    for (const socket of silent.sockets) socket.destroy();
    await new Promise((resolve) => silent.server.close(resolve));
  });

  it('fails a query after its timeout and drops the connection, so a pool cannot hand it out again', async () => {
    const client = new BoundedClient({
      host: '127.0.0.1',
      port: silent.port,
      user: 'u',
      database: 'd',
      query_timeout: 200,
    });
    const errors: string[] = [];
    client.on('error', (error) => errors.push(error.message));
    await client.connect();
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
    const started = Date.now();
    await expect(client.query('SELECT 1')).rejects.toThrow('Query read timeout');
    expect(Date.now() - started).toBeLessThan(2_000);
    await ended;
    expect(errors).toEqual(['Connection terminated unexpectedly']);
    await expect(client.query('SELECT 1')).rejects.toThrow(/not queryable/);
  });

  it('does the same for callback queries (pg-pool.query)', async () => {
    const client = new BoundedClient({
      host: '127.0.0.1',
      port: silent.port,
      user: 'u',
      database: 'd',
      query_timeout: 200,
    });
    client.on('error', () => undefined);
    await client.connect();
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
    const error = await new Promise<Error | null>((resolve) => client.query('SELECT 1', [], (err) => resolve(err)));
    expect(error?.message).toBe('Query read timeout');
    await ended;
  });

  it('watch(): an idle dedicated session notices the silence by itself and ends, so its owner reconnects', async () => {
    const client = new BoundedClient({
      host: '127.0.0.1',
      port: silent.port,
      user: 'u',
      database: 'd',
      query_timeout: 200,
    });
    const errors: string[] = [];
    client.on('error', (error) => errors.push(error.message));
    await client.connect();
    const started = Date.now();
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
    client.watch(100);
    await ended;
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(errors).toEqual(['Connection terminated unexpectedly']);
  });

  it('keeps defaults that bound both the connect and every query', () => {
    const client = new BoundedClient({ host: '127.0.0.1', port: silent.port });
    expect(
      (client as unknown as { connectionParameters: { query_timeout: number } }).connectionParameters.query_timeout,
    ).toBe(10_000);
    expect((client as unknown as { _connectionTimeoutMillis: number })._connectionTimeoutMillis).toBe(5_000);
  });
});
