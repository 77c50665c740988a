import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, take, toArray } from 'rxjs';
import { GuestAgents } from './guest-agent';
import { GuestAgentClient } from './guest-agent-client';

type Handler = (command: { execute: string; arguments?: Record<string, unknown> }, socket: Socket) => void;

/** A stand-in for qemu-ga behind QEMU's chardev socket: JSON lines in, answers from `handler`. */
async function fakeAgent(path: string, handler: Handler): Promise<Server> {
  const server = createServer((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      let newline: number;
      while ((newline = buffer.indexOf(0x0a)) >= 0) {
        const line = buffer.subarray(0, newline);
        buffer = buffer.subarray(newline + 1);
        handler(JSON.parse(line.subarray(line.lastIndexOf(0xff) + 1).toString('utf8')), socket);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

const execs: Array<Record<string, unknown>> = [];
let polls = 0;

/** Answers like qemu-ga: guest-sync-delimited with the sentinel, a few commands, errors otherwise. */
const agent: Handler = (command, socket) => {
  const reply = (value: unknown) => socket.write(`${JSON.stringify(value)}\n`);
  switch (command.execute) {
    case 'guest-sync-delimited':
      // Left behind by an earlier client: an answer, a stale sync and a partial line.
      reply({ return: { stale: true } });
      socket.write(Buffer.concat([Buffer.from([0xff]), Buffer.from('{"return": 12}\n')]));
      socket.write(
        Buffer.concat([Buffer.from([0xff]), Buffer.from(`${JSON.stringify({ return: command.arguments?.id })}\n`)]),
      );
      break;
    case 'guest-get-host-name':
      reply({ return: { 'host-name': 'vm-1' } });
      break;
    case 'guest-sleep':
      break;
    case 'guest-ping':
      reply({ return: {} });
      break;
    case 'guest-get-osinfo':
      reply({
        return: { id: 'debian', name: 'Debian GNU/Linux', version: '12 (bookworm)', 'kernel-release': '6.1.0-cloud' },
      });
      break;
    case 'guest-network-get-interfaces':
      reply({
        return: [
          {
            name: 'lo',
            'hardware-address': '00:00:00:00:00:00',
            'ip-addresses': [{ 'ip-address-type': 'ipv4', 'ip-address': '127.0.0.1', prefix: 8 }],
          },
          {
            name: 'eth0',
            'hardware-address': '52:54:00:AA:BB:CC',
            'ip-addresses': [
              { 'ip-address-type': 'ipv4', 'ip-address': '10.0.2.15', prefix: 24 },
              { 'ip-address-type': 'ipv6', 'ip-address': 'fe80::1', prefix: 64 },
            ],
          },
          { name: 'sit0' },
        ],
      });
      break;
    case 'guest-exec':
      execs.push(command.arguments ?? {});
      reply({ return: { pid: 42 } });
      break;
    case 'guest-exec-status':
      // Running for the first poll, then exited with output.
      polls += 1;
      reply({
        return:
          polls < 2
            ? { exited: false }
            : {
                exited: true,
                exitcode: 3,
                'out-data': Buffer.from('out ✓').toString('base64'),
                'err-data': Buffer.from('err').toString('base64'),
              },
      });
      break;
    default:
      reply({ error: { class: 'CommandNotFound', desc: `The command ${command.execute} has not been found` } });
  }
};

describe('GuestAgentClient', () => {
  let dir: string;
  let servers: Server[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'qga-'));
    servers = [];
  });

  afterEach(async () => {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    rmSync(dir, { recursive: true, force: true });
  });

  it('resynchronises past stale answers and runs commands in order', async () => {
    servers.push(await fakeAgent(join(dir, 'qga.sock'), agent));
    const client = await GuestAgentClient.open(join(dir, 'qga.sock'), 2_000);
    try {
      expect(await client.execute('guest-get-host-name')).toEqual({ 'host-name': 'vm-1' });
      expect(await client.execute('guest-get-host-name')).toEqual({ 'host-name': 'vm-1' });
      await expect(client.execute('guest-nope')).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    } finally {
      client.close();
    }
  });

  it('is GUEST_AGENT_UNAVAILABLE without a socket or when nothing answers the sync', async () => {
    await expect(GuestAgentClient.open(join(dir, 'missing.sock'), 500)).rejects.toMatchObject({
      code: 'GUEST_AGENT_UNAVAILABLE',
    });
    // QEMU accepts the connection while the guest has no agent running: the sync goes unanswered.
    servers.push(await fakeAgent(join(dir, 'silent.sock'), () => undefined));
    const started = Date.now();
    await expect(GuestAgentClient.open(join(dir, 'silent.sock'), 300)).rejects.toMatchObject({
      code: 'GUEST_AGENT_UNAVAILABLE',
    });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('times a slow command out and closes the connection', async () => {
    servers.push(await fakeAgent(join(dir, 'qga.sock'), agent));
    const client = await GuestAgentClient.open(join(dir, 'qga.sock'), 2_000);
    await expect(client.execute('guest-sleep', undefined, 200)).rejects.toMatchObject({ code: 'TIMEOUT' });
    await expect(client.execute('guest-get-host-name')).rejects.toMatchObject({ code: 'GUEST_AGENT_UNAVAILABLE' });
  });

  it('reports a connection the agent side closes', async () => {
    servers.push(
      await fakeAgent(join(dir, 'qga.sock'), (command, socket) =>
        command.execute === 'guest-sync-delimited' ? agent(command, socket) : socket.destroy(),
      ),
    );
    const client = await GuestAgentClient.open(join(dir, 'qga.sock'), 2_000);
    await expect(client.execute('guest-ping')).rejects.toMatchObject({ code: 'GUEST_AGENT_UNAVAILABLE' });
  });
});

describe('GuestAgents', () => {
  let dir: string;
  let server: Server | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'qga-'));
    polls = 0;
    execs.length = 0;
  });

  afterEach(async () => {
    if (server) await new Promise((resolve) => server?.close(resolve));
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads OS info, hostname and addresses (no loopback, no MAC-less interface)', async () => {
    const socket = join(dir, 'qga.sock');
    server = await fakeAgent(socket, agent);
    const agents = new GuestAgents();
    expect(await agents.info('vm-1', socket)).toEqual({
      os: { name: 'Debian GNU/Linux', version: '12 (bookworm)', kernel: '6.1.0-cloud' },
      hostname: 'vm-1',
    });
    expect(await agents.addresses('vm-1', socket)).toEqual([
      { mac: '52:54:00:aa:bb:cc', ip: '10.0.2.15', prefix: 24, family: 'ipv4', name: 'eth0' },
      { mac: '52:54:00:aa:bb:cc', ip: 'fe80::1', prefix: 64, family: 'ipv6', name: 'eth0' },
    ]);
  });

  it('runs a program with input and polls until it exits, decoding its output', async () => {
    const socket = join(dir, 'qga.sock');
    server = await fakeAgent(socket, agent);
    const agents = new GuestAgents({ execPollMs: 10 });
    const result = await agents.exec('vm-1', socket, ['/usr/bin/env', 'a b', '$(x)'], { input: 'in' });
    expect(result).toEqual({ exitCode: 3, stdout: 'out ✓', stderr: 'err' });
    expect(execs).toEqual([
      {
        path: '/usr/bin/env',
        arg: ['a b', '$(x)'],
        'capture-output': true,
        'input-data': Buffer.from('in').toString('base64'),
      },
    ]);
    await expect(agents.exec('vm-1', socket, [])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('knows the connection from port events and calls, and reports each change once', async () => {
    const socket = join(dir, 'qga.sock');
    const agents = new GuestAgents({ answerTimeoutMs: 200 });
    const changes = firstValueFrom(agents.changes$.pipe(take(3), toArray()));
    agents.portChanged('vm-1', true);
    agents.portChanged('vm-1', true);
    expect(agents.isConnected('vm-1', socket)).toBe(true);
    // No socket: the call fails and the agent counts as gone.
    await expect(agents.info('vm-1', socket)).rejects.toMatchObject({ code: 'GUEST_AGENT_UNAVAILABLE' });
    expect(agents.isConnected('vm-1', socket)).toBe(false);
    server = await fakeAgent(socket, agent);
    await agents.freeze('vm-1', socket).catch(() => undefined);
    expect(agents.isConnected('vm-1', socket)).toBe(true);
    expect(await changes).toEqual([
      { vmId: 'vm-1', connected: true },
      { vmId: 'vm-1', connected: false },
      { vmId: 'vm-1', connected: true },
    ]);
  });

  it('refreshes an unknown state with a guest-ping in the background', async () => {
    const socket = join(dir, 'qga.sock');
    server = await fakeAgent(socket, agent);
    const agents = new GuestAgents();
    const connected = firstValueFrom(agents.changes$);
    expect(agents.isConnected('vm-2', socket)).toBe(false);
    expect(await connected).toEqual({ vmId: 'vm-2', connected: true });
    expect(agents.isConnected('vm-2', socket)).toBe(true);
  });
});
