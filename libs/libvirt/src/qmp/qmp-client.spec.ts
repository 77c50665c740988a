import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom } from 'rxjs';
import { QmpClient } from './qmp-client';

/** A scripted QMP server: enough of the protocol to exercise the client. */
function fakeQemu(
  path: string,
  onCommand: (socket: Socket, message: { execute: string; id?: string; arguments?: unknown }) => void,
): Server {
  const server = createServer((socket) => {
    socket.write('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}}\r\n');
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        onCommand(socket, JSON.parse(line));
      }
    });
  });
  server.listen(path);
  return server;
}

describe('QmpClient', () => {
  let dir: string;
  let server: Server | undefined;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'qmp-'))));
  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    rmSync(dir, { recursive: true, force: true });
  });

  it('negotiates capabilities, correlates out-of-order replies by id and emits events', async () => {
    const path = join(dir, 'qmp.sock');
    const held: Array<[Socket, string]> = [];
    server = fakeQemu(path, (socket, message) => {
      if (message.execute === 'qmp_capabilities') return void socket.write(`{"return": {}, "id": "${message.id}"}\r\n`);
      if (message.execute === 'slow') return void held.push([socket, message.id as string]);
      if (message.execute === 'query-status') {
        socket.write('{"timestamp": {"seconds": 1, "microseconds": 500000}, "event": "STOP"}\r\n');
        socket.write(`{"return": {"status": "paused"}, "id": "${message.id}"}\r\n`);
        // Answer the earlier, slower request last.
        for (const [s, id] of held) s.write(`{"return": "slow-done", "id": "${id}"}\r\n`);
      }
      if (message.execute === 'bad')
        socket.write(`{"error": {"class": "GenericError", "desc": "nope"}, "id": "${message.id}"}\r\n`);
    });
    const client = await QmpClient.connect(path);
    const event = firstValueFrom(client.events$);
    const slow = client.execute('slow');
    expect(await client.execute('query-status')).toEqual({ status: 'paused' });
    expect(await slow).toBe('slow-done');
    expect(await event).toEqual({ event: 'STOP', timestamp: new Date(1500) });
    await expect(client.execute('bad')).rejects.toMatchObject({ code: 'OPERATION_FAILED', message: 'QMP bad: nope' });
    client.close();
  });

  it('times out commands and fails pending ones when the connection closes', async () => {
    const path = join(dir, 'qmp.sock');
    server = fakeQemu(path, (socket, message) => {
      if (message.execute === 'qmp_capabilities') socket.write(`{"return": {}, "id": "${message.id}"}\r\n`);
      if (message.execute === 'quit') socket.destroy();
    });
    const client = await QmpClient.connect(path);
    await expect(client.execute('never-answered', undefined, 100)).rejects.toMatchObject({ code: 'TIMEOUT' });
    const pending = client.execute('never-answered-either');
    await expect(client.execute('quit')).rejects.toMatchObject({ code: 'HYPERVISOR_UNAVAILABLE' });
    await expect(pending).rejects.toMatchObject({ code: 'HYPERVISOR_UNAVAILABLE' });
    expect(client.isClosed).toBe(true);
  });

  it('fails clearly when nothing listens', async () => {
    await expect(QmpClient.connect(join(dir, 'missing.sock'))).rejects.toMatchObject({
      code: 'HYPERVISOR_UNAVAILABLE',
    });
  });
});
