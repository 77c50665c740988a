import { HypervisorError } from '../errors/hypervisor-error';
import { libvirtUriRefusal } from './libvirt-uri';
import { LibLogger, silentLogger } from './logger';
import { renderVirshCommand, VirshCommand } from './virsh-command';
import { mapVirshError } from './virsh-error-mapper';
import { FramedOutput, virshFailed } from './virsh-output-framer';
import { VirshSession } from './virsh-session';

export interface VirshPoolOptions {
  uri: string;
  /** Number of persistent virsh sessions. Default 2. */
  size?: number;
  /** Commands allowed to wait for a session; more are rejected with BUSY. Default 256. */
  maxQueue?: number;
  /** Default per-command timeout. Default 30 s. */
  commandTimeoutMs?: number;
  virshPath?: string;
  logger?: LibLogger;
  /** Told how long each command took (queueing included) and whether it succeeded: for metrics. */
  onCommand?: CommandObserver;
}

export type CommandObserver = (command: string, seconds: number, ok: boolean) => void;

interface QueuedCommand {
  line: string;
  timeoutMs: number;
  resolve: (output: FramedOutput) => void;
  reject: (error: Error) => void;
}

/**
 * A bounded pool of persistent interactive virsh sessions. One process per call costs ~21 ms;
 * a command on a warm session costs well under 1 ms. Sessions start on demand, are replaced
 * when they die or time out, and callers wait in a bounded FIFO queue when all are busy.
 */
export class VirshPool {
  private readonly size: number;
  private readonly maxQueue: number;
  private readonly commandTimeoutMs: number;
  private readonly logger: LibLogger;
  private readonly idle: VirshSession[] = [];
  private readonly queue: QueuedCommand[] = [];
  private busy = 0;
  private closed = false;
  /** Set when the URI is not one LIMEN supports: no virsh is started with it, every command fails. */
  private readonly uriRefused: HypervisorError | undefined;

  constructor(private readonly options: VirshPoolOptions) {
    const refusal = libvirtUriRefusal(options.uri);
    this.uriRefused =
      refusal === null ? undefined : new HypervisorError('INVALID_ARGUMENT', `The libvirt URI ${refusal}`);
    this.size = options.size ?? 2;
    this.maxQueue = options.maxQueue ?? 256;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 30_000;
    this.logger = options.logger ?? silentLogger;
  }

  get uri(): string {
    return this.options.uri;
  }

  /** Runs a command; resolves with its stdout, rejects with a typed HypervisorError. */
  async run(command: VirshCommand, options: { timeoutMs?: number } = {}): Promise<string> {
    const started = process.hrtime.bigint();
    let ok = false;
    try {
      const output = await this.exec(renderVirshCommand(command), options.timeoutMs);
      if (virshFailed(output.stderr))
        throw mapVirshError(output.stderr, `virsh ${command.name}`, output.connectionLost);
      ok = true;
      return output.stdout;
    } finally {
      this.options.onCommand?.(command.name, Number(process.hrtime.bigint() - started) / 1e9, ok);
    }
  }

  /** Runs a rendered command line and returns raw stdout/stderr without judging success. */
  exec(line: string, timeoutMs = this.commandTimeoutMs): Promise<FramedOutput> {
    if (this.closed) return Promise.reject(new HypervisorError('HYPERVISOR_UNAVAILABLE', 'virsh pool is closed'));
    if (this.uriRefused) return Promise.reject(this.uriRefused);
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(new HypervisorError('BUSY', `virsh pool queue is full (${this.maxQueue} waiting)`));
    }
    return new Promise<FramedOutput>((resolve, reject) => {
      this.queue.push({ line, timeoutMs, resolve, reject });
      this.dispatch();
    });
  }

  /** Number of commands waiting for a session (for metrics and tests). */
  get queued(): number {
    return this.queue.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiting of this.queue.splice(0)) {
      waiting.reject(new HypervisorError('HYPERVISOR_UNAVAILABLE', 'virsh pool is closed'));
    }
    for (const session of this.idle.splice(0)) session.kill();
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const session = this.acquire();
      if (!session) return;
      const command = this.queue.shift() as QueuedCommand;
      this.busy++;
      session
        .run(command.line, command.timeoutMs)
        .then(command.resolve, command.reject)
        .finally(() => {
          this.busy--;
          if (session.alive && !this.closed) this.idle.push(session);
          else if (!session.alive)
            this.logger.warn(`virsh session ${session.pid ?? '?'} ended; a new one will start on demand`);
          else session.kill();
          this.dispatch();
        });
    }
  }

  private acquire(): VirshSession | undefined {
    while (this.idle.length > 0) {
      const session = this.idle.pop() as VirshSession;
      if (session.alive) return session;
    }
    if (this.busy + this.idle.length < this.size) {
      return new VirshSession({ uri: this.options.uri, virshPath: this.options.virshPath });
    }
    return undefined;
  }
}
