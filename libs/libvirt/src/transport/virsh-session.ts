import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { HypervisorError } from '../errors/hypervisor-error';
import { FramedOutput, VirshFramingError, VirshOutputFramer } from './virsh-output-framer';

export interface VirshSessionOptions {
  uri: string;
  virshPath?: string;
}

/**
 * Environment for the interactive session. readline must not apply personal key bindings
 * (INPUTRC), must treat UTF-8 bytes as text rather than Meta-key chords (a UTF-8 locale turns
 * off convert-meta), and must not wrap long lines with cursor movements (dumb terminal). One-shot
 * virsh processes use it too: the C locale keeps libvirt's messages in the English the error mapper reads.
 */
export function sessionEnvironment(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: process.env.HOME ?? '/',
    LC_ALL: 'C.UTF-8',
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    INPUTRC: '/dev/null',
    // Keep user-provided strings out of a history file as far as virsh allows (minimum is 1).
    VIRSH_HISTSIZE: '1',
  };
}

interface PendingCommand {
  token: string;
  resolve: (output: FramedOutput) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * One persistent `virsh -q -c URI` process fed commands on stdin, one at a time. It is not
 * safe for concurrent use: VirshPool hands each session to one caller at a time.
 */
export class VirshSession {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly framer = new VirshOutputFramer();
  private pending: PendingCommand | undefined;
  private exited = false;
  /** Set as soon as a kill is requested: the exit event arrives later, the session is gone now. */
  private killed = false;

  constructor(options: VirshSessionOptions) {
    this.child = spawn(options.virshPath ?? 'virsh', ['-q', '-c', options.uri], {
      env: sessionEnvironment(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => this.onOutput('stdout', chunk));
    this.child.stderr.on('data', (chunk: string) => this.onOutput('stderr', chunk));
    // EPIPE on stdin after the process died is reported through 'exit'.
    this.child.stdin.on('error', () => undefined);
    this.child.on('error', (error) => this.onExit(`cannot run virsh: ${error.message}`));
    this.child.on('exit', (code, signal) => this.onExit(`virsh exited (code ${code}, signal ${signal})`));
  }

  get alive(): boolean {
    return !this.exited && !this.killed;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Runs one already-rendered command line and returns its framed stdout and stderr. */
  run(line: string, timeoutMs: number): Promise<FramedOutput> {
    if (!this.alive) return Promise.reject(new HypervisorError('HYPERVISOR_UNAVAILABLE', 'virsh session is closed'));
    if (this.pending) throw new Error('VirshSession.run called while a command is in flight');
    if (line.includes('\n')) throw new HypervisorError('INVALID_ARGUMENT', 'virsh command line contains a newline');

    const token = `LIMEN-${randomBytes(16).toString('hex')}`;
    return new Promise<FramedOutput>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The session state is unknown after a timeout (the command may still run), so the
        // session is discarded rather than reused.
        this.fail(new HypervisorError('TIMEOUT', `virsh command timed out after ${timeoutMs} ms`));
        this.kill();
      }, timeoutMs);
      this.pending = { token, resolve, reject, timer };
      this.child.stdin.write(`${line}\n${VirshOutputFramer.endMarkerCommand(token)}\n`);
    });
  }

  kill(): void {
    this.killed = true;
    if (!this.exited) this.child.kill('SIGKILL');
  }

  private onOutput(stream: 'stdout' | 'stderr', chunk: string): void {
    this.framer.push(stream, chunk);
    const pending = this.pending;
    if (!pending) return;
    let output: FramedOutput | undefined;
    try {
      output = this.framer.take(pending.token);
    } catch (error) {
      // Output we cannot attribute means the session is out of step: never guess, restart.
      this.fail(new HypervisorError('OPERATION_FAILED', (error as VirshFramingError).message));
      this.kill();
      return;
    }
    if (!output) return;
    clearTimeout(pending.timer);
    this.pending = undefined;
    pending.resolve(output);
  }

  private onExit(reason: string): void {
    if (this.exited) return;
    this.exited = true;
    const stderr = this.framer.pendingStderr().trim();
    this.fail(new HypervisorError('HYPERVISOR_UNAVAILABLE', stderr ? `${reason}: ${stderr}` : reason, stderr));
  }

  private fail(error: HypervisorError): void {
    const pending = this.pending;
    if (!pending) return;
    clearTimeout(pending.timer);
    this.pending = undefined;
    pending.reject(error);
  }
}
