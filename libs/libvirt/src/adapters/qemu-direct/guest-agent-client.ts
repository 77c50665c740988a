import { randomInt } from 'node:crypto';
import { connect, Socket } from 'node:net';
import { HypervisorError } from '../../errors/hypervisor-error';

/** 0xFF: the byte guest-sync-delimited puts before its answer, and that resets the agent's parser. */
const SENTINEL = 0xff;
const NEWLINE = 0x0a;

interface AgentReply {
  return?: unknown;
  error?: { class?: string; desc?: string };
}

interface Waiter {
  resolve(reply: AgentReply): void;
  reject(error: Error): void;
}

/**
 * One connection to a QEMU guest agent (qemu-ga) through the unix socket of its virtio-serial
 * chardev. The protocol is QMP-like JSON lines without ids: one command at a time, each answered
 * in order. A connection begins with guest-sync-delimited, so answers a previous client left
 * behind (after a timeout) are skipped; after any timeout the connection is closed for the same
 * reason. QEMU accepts one client at a time on the socket: callers serialise and close.
 */
export class GuestAgentClient {
  private buffer = Buffer.alloc(0);
  private synced = false;
  private waiter: Waiter | undefined;
  private closedError: Error | undefined;

  private constructor(private readonly socket: Socket) {}

  /**
   * Connects and resynchronises within `timeoutMs`; GUEST_AGENT_UNAVAILABLE when the socket is not
   * there or no agent answers in time (no agent running in the guest, or the guest not booted).
   */
  static async open(socketPath: string, timeoutMs: number): Promise<GuestAgentClient> {
    const socket = connect(socketPath);
    const client = new GuestAgentClient(socket);
    socket.on('data', (chunk: Buffer) => client.onData(chunk));
    socket.on('error', (error) => client.onClose(error));
    socket.on('close', () => client.onClose());
    try {
      await client.sync(timeoutMs);
      return client;
    } catch (error) {
      client.close();
      if (HypervisorError.is(error, 'GUEST_AGENT_UNAVAILABLE')) throw error;
      throw new HypervisorError(
        'GUEST_AGENT_UNAVAILABLE',
        `the guest agent did not answer within ${timeoutMs} ms`,
        (error as Error).message,
      );
    }
  }

  /** Runs a command and resolves with its `return` value. TIMEOUT closes the connection. */
  async execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
    const reply = await this.request({ execute: command, ...(args ? { arguments: args } : {}) }, timeoutMs, command);
    if (reply.error) {
      const errorClass = reply.error.class ?? 'GenericError';
      const code =
        errorClass === 'CommandNotFound' || errorClass === 'CommandDisabled' ? 'UNSUPPORTED' : 'OPERATION_FAILED';
      throw new HypervisorError(code, `guest agent ${command}: ${reply.error.desc ?? errorClass}`, errorClass);
    }
    return reply.return as T;
  }

  close(): void {
    this.socket.destroy();
  }

  private async sync(timeoutMs: number): Promise<void> {
    const id = randomInt(1, 2 ** 31 - 1);
    // A lone 0xFF makes the agent drop whatever half a command an earlier client left unfinished.
    this.socket.write(Buffer.from([SENTINEL]));
    const deadline = Date.now() + timeoutMs;
    let reply = await this.request({ execute: 'guest-sync-delimited', arguments: { id } }, timeoutMs, 'sync');
    // Before the sentinel everything is skipped; after it, only our id ends the sync.
    while (reply.return !== id) reply = await this.next(Math.max(1, deadline - Date.now()), 'sync');
  }

  private request(message: Record<string, unknown>, timeoutMs: number, what: string): Promise<AgentReply> {
    if (this.closedError) return Promise.reject(this.closedError);
    this.socket.write(`${JSON.stringify(message)}\n`);
    return this.next(timeoutMs, what);
  }

  private next(timeoutMs: number, what: string): Promise<AgentReply> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<AgentReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new HypervisorError('TIMEOUT', `guest agent ${what} timed out after ${timeoutMs} ms`));
        this.close();
      }, timeoutMs);
      this.waiter = {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.drain();
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    this.drain();
  }

  private drain(): void {
    if (!this.synced) {
      const sentinel = this.buffer.indexOf(SENTINEL);
      if (sentinel < 0) {
        this.buffer = Buffer.alloc(0);
        return;
      }
      this.buffer = this.buffer.subarray(sentinel + 1);
      this.synced = true;
    }
    while (this.waiter) {
      const newline = this.buffer.indexOf(NEWLINE);
      if (newline < 0) return;
      let bytes = this.buffer.subarray(0, newline);
      this.buffer = this.buffer.subarray(newline + 1);
      // Another sync's sentinel (one an earlier client asked for) may lead a line.
      bytes = bytes.subarray(bytes.lastIndexOf(SENTINEL) + 1);
      const line = bytes.toString('utf8').trim();
      const reply = parseReply(line);
      if (!reply) continue;
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter.resolve(reply);
    }
  }

  private onClose(error?: Error): void {
    if (this.closedError) return;
    this.closedError = new HypervisorError(
      'GUEST_AGENT_UNAVAILABLE',
      `the guest agent connection closed${error ? `: ${error.message}` : ''}`,
    );
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(this.closedError);
  }
}

/** A reply line, or undefined for blank lines and anything that is not a reply object. */
function parseReply(line: string): AgentReply | undefined {
  if (!line) return undefined;
  try {
    const value = JSON.parse(line) as unknown;
    if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
    const reply = value as AgentReply;
    return 'return' in reply || 'error' in reply ? reply : undefined;
  } catch {
    return undefined;
  }
}
