import { spawn } from 'node:child_process';
import { HypervisorError, isFilesystemFull } from '../errors/hypervisor-error';

export interface ProcessResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunProcessOptions {
  timeoutMs?: number;
  /** Resolve with the result even when the exit code is not 0. */
  allowFailure?: boolean;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs a program with an argv array (never through a shell, so arguments need no quoting) and
 * collects its output. Used for qemu-img, qemu-io and one-shot virsh calls.
 */
export function runProcess(
  file: string,
  args: readonly string[],
  options: RunProcessOptions = {},
): Promise<ProcessResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new HypervisorError('HYPERVISOR_UNAVAILABLE', `cannot run ${file}: ${error.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const result = {
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        exitCode: code ?? -1,
      };
      if (timedOut) {
        reject(new HypervisorError('TIMEOUT', `${file} timed out after ${timeoutMs} ms`, result.stderr));
      } else if (result.exitCode !== 0 && !options.allowFailure) {
        // A full target filesystem (qemu-img's disk, genisoimage's seed ISO) is the operator's to fix, not a failure of ours.
        const code = isFilesystemFull(result.stderr) ? 'INSUFFICIENT_STORAGE' : 'OPERATION_FAILED';
        reject(new HypervisorError(code, `${file} ${args[0] ?? ''} failed: ${result.stderr.trim()}`, result.stderr));
      } else {
        resolve(result);
      }
    });
  });
}
