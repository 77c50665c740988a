import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './agent-process';

const SCRIPT = join(__dirname, '..', '..', 'scripts', 'remote-libvirtd.sh');

/**
 * A second libvirtd on this machine in a private mount namespace (scripts/remote-libvirtd.sh),
 * reached at qemu+tcp://127.0.0.1:<port>/system: a "remote" host whose storage pool folder exists
 * only inside that namespace. The api (this process, outside) cannot open anything in it; the
 * test looks inside through nsenter.
 */
export interface RemoteLibvirtd {
  port: number;
  uri: string;
  /** The folder to register as the host's storagePath: it exists only inside the namespace. */
  poolDir: string;
  /** Where its logs are (QEMU's under log/qemu), readable from outside. */
  stateDir: string;
  /** Runs a command inside the namespace (the remote host's view of the files). */
  inside(command: string, ...args: string[]): Promise<ExecResult>;
  /** The entries of `dir` as the remote host sees them; null when it does not exist there. */
  listInside(dir: string): Promise<string[] | null>;
  /** Whether `path` exists for this process: the api's view, outside the namespace. */
  visibleOutside(path: string): boolean;
  /** Destroys its guests and ends its processes; safe to call twice. */
  stop(): Promise<void>;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT, ...args], { encoding: 'utf8', timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts one on a free loopback port (another port when the chosen one was taken meanwhile). */
export async function startRemoteLibvirtd(): Promise<RemoteLibvirtd> {
  let last: ExecResult | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const started = await run(['start', String(port)], 180_000);
    last = started;
    if (started.code !== 0) {
      if (/already in use/.test(started.stderr)) continue;
      break;
    }
    const info = JSON.parse(started.stdout.trim().split('\n').pop()!) as {
      uri: string;
      poolDir: string;
      stateDir: string;
    };
    const inside = (command: string, ...args: string[]) => run(['exec', String(port), command, ...args], 60_000);
    let stopped: Promise<void> | undefined;
    return {
      port,
      ...info,
      inside,
      listInside: async (dir) => {
        const listed = await inside('ls', '-A1', '--', dir);
        if (listed.code !== 0) {
          if (/No such file or directory/.test(listed.stderr)) return null;
          throw new Error(`ls ${dir} inside the remote host's namespace failed: ${listed.stderr.trim()}`);
        }
        return listed.stdout.split('\n').filter(Boolean);
      },
      visibleOutside: (path) => existsSync(path),
      stop: () =>
        (stopped ??= run(['stop', String(port)], 120_000).then((res) => {
          if (res.code !== 0) throw new Error(`stopping the remote libvirtd failed: ${res.stderr.trim()}`);
        })),
    };
  }
  throw new Error(`the remote libvirtd did not start: ${last?.stderr.trim()}`);
}
