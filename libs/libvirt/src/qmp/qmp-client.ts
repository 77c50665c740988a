import { connect, Socket } from 'node:net';
import { Observable, Subject } from 'rxjs';
import { HypervisorError } from '../errors/hypervisor-error';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: Date;
}

interface QmpMessage {
  QMP?: unknown;
  id?: string;
  return?: unknown;
  error?: { class: string; desc: string };
  event?: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

interface PendingRequest {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface QmpConnectOptions {
  /** Timeout for connecting and negotiating capabilities. Default 5 s. */
  connectTimeoutMs?: number;
  /** Default timeout per command. Default 30 s. */
  commandTimeoutMs?: number;
}

/**
 * A QEMU Machine Protocol client over a unix socket: greeting and capability negotiation,
 * commands correlated to replies by `id`, asynchronous events as an Observable, timeouts.
 */
export class QmpClient {
  private readonly pending = new Map<string, PendingRequest>();
  private readonly eventSubject = new Subject<QmpEvent>();
  private readonly closedSubject = new Subject<void>();
  private buffer = '';
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    private readonly commandTimeoutMs: number,
  ) {}

  /** Connects, waits for the greeting and leaves capability negotiation mode. */
  static async connect(socketPath: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    const socket = connect(socketPath);
    const client = new QmpClient(socket, options.commandTimeoutMs ?? 30_000);
    const greeting = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new HypervisorError('TIMEOUT', `no QMP greeting on ${socketPath} within ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      client.onGreeting = () => {
        clearTimeout(timer);
        resolve();
      };
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(
          new HypervisorError('HYPERVISOR_UNAVAILABLE', `cannot connect to QMP socket ${socketPath}: ${error.message}`),
        );
      });
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => client.onData(chunk));
    socket.on('close', () => client.onClose());
    socket.on('error', () => undefined); // reported through 'close'
    await greeting;
    await client.execute('qmp_capabilities', undefined, connectTimeoutMs);
    return client;
  }

  private onGreeting: () => void = () => undefined;

  get events$(): Observable<QmpEvent> {
    return this.eventSubject.asObservable();
  }

  /** Completes when the connection closes (QEMU exited or the socket broke). */
  get closed$(): Observable<void> {
    return this.closedSubject.asObservable();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = this.commandTimeoutMs): Promise<T> {
    if (this.closed)
      return Promise.reject(new HypervisorError('HYPERVISOR_UNAVAILABLE', `QMP connection closed (${command})`));
    const id = `limen-${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new HypervisorError('TIMEOUT', `QMP ${command} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (value: unknown) => void, reject, timer });
      this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  /** Runs a human monitor (HMP) command line and returns its text output. */
  humanMonitor(commandLine: string, timeoutMs?: number): Promise<string> {
    return this.execute<string>('human-monitor-command', { 'command-line': commandLine }, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) this.onMessage(JSON.parse(line) as QmpMessage);
    }
  }

  private onMessage(message: QmpMessage): void {
    if (message.QMP) {
      this.onGreeting();
      return;
    }
    if (message.event) {
      const ts = message.timestamp;
      this.eventSubject.next({
        event: message.event,
        ...(message.data ? { data: message.data } : {}),
        timestamp: ts ? new Date(ts.seconds * 1000 + Math.floor(ts.microseconds / 1000)) : new Date(),
      });
      return;
    }
    // Replies without a known id belong to requests that already timed out.
    const pending = message.id !== undefined ? this.pending.get(message.id) : undefined;
    if (!pending || message.id === undefined) return;
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.error) {
      pending.reject(
        new HypervisorError(
          qmpErrorCode(message.error.class),
          `QMP ${pending.command}: ${message.error.desc}`,
          message.error.class,
        ),
      );
    } else {
      pending.resolve(message.return);
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new HypervisorError('HYPERVISOR_UNAVAILABLE', `QMP connection closed during ${pending.command}`));
      this.pending.delete(id);
    }
    this.closedSubject.next();
    this.closedSubject.complete();
    this.eventSubject.complete();
  }
}

function qmpErrorCode(errorClass: string): 'UNSUPPORTED' | 'OPERATION_FAILED' {
  return errorClass === 'CommandNotFound' ? 'UNSUPPORTED' : 'OPERATION_FAILED';
}
