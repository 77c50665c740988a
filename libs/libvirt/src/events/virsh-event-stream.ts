import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Observable, Subject } from 'rxjs';
import { DomainEvent } from '../models';
import { libvirtUriRefusal } from '../transport/libvirt-uri';
import { LibLogger, silentLogger } from '../transport/logger';
import { parseVirshEventLine } from './virsh-event-parser';

const REGISTRATION_GRACE_MS = 300;
/**
 * util-linux's setpriv asks the kernel to SIGKILL the event process when ours dies. The virsh
 * shells of the command pool exit by themselves at EOF on stdin, but `virsh event --loop` never
 * reads it: a SIGKILLed api left one behind, under init, for good.
 */
const SETPRIV = '/usr/bin/setpriv';

export interface VirshEventStreamOptions {
  uri: string;
  virshPath?: string;
  logger?: LibLogger;
  /** Delay before restarting a dead event process; doubles up to 10 s while it keeps failing. */
  restartDelayMs?: number;
}

/**
 * Runs `virsh event --all --loop --timestamp` and turns its lines into DomainEvents. When the
 * process dies it is restarted, and a `resync-needed` event is emitted once the new process
 * runs, because events in between were lost.
 */
export class VirshEventStream {
  private readonly subject = new Subject<DomainEvent>();
  private child: ChildProcessWithoutNullStreams | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  private failures = 0;
  private readonly logger: LibLogger;

  constructor(private readonly options: VirshEventStreamOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  get events$(): Observable<DomainEvent> {
    return this.subject.asObservable();
  }

  /** PID of the current event process (tests kill it to prove the restart). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (!this.stopped) return;
    const refusal = libvirtUriRefusal(this.options.uri);
    if (refusal !== null) {
      this.logger.warn(`virsh event not started: the libvirt URI ${refusal}`);
      return;
    }
    this.stopped = false;
    this.spawnProcess(false);
  }

  stop(): void {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.child?.kill('SIGTERM');
    this.child = undefined;
  }

  private spawnProcess(afterRestart: boolean): void {
    const virsh = [
      this.options.virshPath ?? 'virsh',
      '-q',
      '-c',
      this.options.uri,
      'event',
      '--all',
      '--loop',
      '--timestamp',
    ];
    const [file, ...args] = existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...virsh] : virsh;
    const child = spawn(file, args, {
      env: { ...process.env, LC_ALL: 'C.UTF-8' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    let announced = false;
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      this.failures = 0;
      const event = parseVirshEventLine(line);
      if (event) this.subject.next(event);
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
    child.on('spawn', () => {
      if (!afterRestart || announced) return;
      announced = true;
      // virsh prints nothing once its callbacks are registered, so allow it the time it needs to
      // connect (~20 ms here) with a wide margin before telling consumers to re-read state:
      // a re-read that started earlier could miss a change made before registration.
      setTimeout(() => {
        if (this.child === child) {
          this.subject.next({ kind: 'resync-needed', reason: 'event stream restarted', timestamp: new Date() });
        }
      }, REGISTRATION_GRACE_MS);
    });
    child.on('error', (error) => this.logger.warn(`virsh event: ${error.message}`));
    child.on('exit', (code, signal) => {
      lines.close();
      if (this.child === child) this.child = undefined;
      if (this.stopped) return;
      this.failures++;
      const delay = Math.min((this.options.restartDelayMs ?? 200) * 2 ** (this.failures - 1), 10_000);
      this.logger.warn(
        `virsh event exited (code ${code}, signal ${signal}) ${stderr.trim()}; restarting in ${delay} ms`,
      );
      this.restartTimer = setTimeout(() => this.spawnProcess(true), delay);
    });
  }
}
