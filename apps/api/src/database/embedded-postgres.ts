import { Logger } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

const LISTENING = /PGLiteSocketServer listening on (\{.*\})/;
const START_TIMEOUT_MS = 60_000;
const RESTART_DELAY_MS = 1_000;

const SERVER_SCRIPT = join('node_modules', '@electric-sql', 'pglite-socket', 'dist', 'scripts', 'server.cjs');
/** The file name libpq and `pg` look for in a socket folder (with the default port 5432). */
const SOCKET_NAME = '.s.PGSQL.5432';
/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_UNIX_SOCKET_PATH = 107;

/**
 * pglite-socket's own server script (CommonJS build), run as a child process.
 * Found by walking up from this file, because the webpack bundle rewrites
 * require.resolve into a module id.
 */
function serverScript(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, SERVER_SCRIPT))) return join(dir, SERVER_SCRIPT);
    if (dirname(dir) === dir) throw new Error(`cannot find ${SERVER_SCRIPT} above ${__dirname}`);
  }
}

/**
 * PGlite (PostgreSQL in WASM) persisted under DATA_DIR/pg and served by
 * pglite-socket, in a child process of the api. The api uses the same `pg`
 * driver, dialect and migrations as with a real server.
 *
 * It listens on a unix socket in DATA_DIR/pg-socket (0700), never on a TCP
 * port: PGlite has no passwords, so a port would open the database to every
 * local user, and to any guest whose network reaches the host's loopback.
 *
 * A separate process keeps PGlite's WASM heap (150-350 MB) out of the api's
 * RSS, and lets the database die and come back (it is restarted on the same
 * socket) while the api keeps running, as with a real server.
 *
 * PGlite is one database session: callers must use a pool of exactly one
 * connection (see dataSourceOptions).
 */
export class EmbeddedPostgres {
  private readonly logger = new Logger('EmbeddedPostgres');
  private child: ChildProcess | null = null;
  private stopping = false;
  private started = false;

  private constructor(
    private readonly dir: string,
    private readonly socketDir: string,
  ) {}

  get url(): string {
    return `postgres://postgres@localhost/postgres?host=${encodeURIComponent(this.socketDir)}`;
  }

  /** The server's pid, for tests that kill it. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  static async start(dataDir: string): Promise<EmbeddedPostgres> {
    const dir = join(dataDir, 'pg');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const socketDir = join(dataDir, 'pg-socket');
    if (Buffer.byteLength(join(socketDir, SOCKET_NAME)) > MAX_UNIX_SOCKET_PATH) {
      throw new Error(
        `DATA_DIR ${dataDir} is too long to hold the embedded database's unix socket (${join(socketDir, SOCKET_NAME)}); use a shorter DATA_DIR`,
      );
    }
    mkdirSync(socketDir, { recursive: true, mode: 0o700 });
    // mkdir's mode does not apply to a folder that already exists.
    chmodSync(socketDir, 0o700);
    const embedded = new EmbeddedPostgres(dir, socketDir);
    await embedded.spawn();
    return embedded;
  }

  private spawn(): Promise<void> {
    // --liftoff-only: V8's optimizing tier would compile PGlite's WASM a second time
    // and keep both copies (~150 MB measured here), for no gain on small queries.
    // The child exits when its stdin (a pipe from the api) closes, so a killed api never leaves it behind.
    const guard = `process.stdin.on('end', () => process.exit(0)); process.stdin.resume(); require(${JSON.stringify(serverScript())});`;
    const socket = join(this.socketDir, SOCKET_NAME);
    // A server killed with SIGKILL leaves its socket file behind, and listen() would refuse it.
    rmSync(socket, { force: true });
    const child = spawn(
      process.execPath,
      ['--liftoff-only', '-e', guard, '--', `--db=${this.dir}`, `--path=${socket}`],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    return new Promise((resolve, reject) => {
      let output = '';
      const timer = setTimeout(
        () =>
          reject(
            new Error(`embedded PostgreSQL did not start within ${START_TIMEOUT_MS / 1000} s: ${output.slice(-500)}`),
          ),
        START_TIMEOUT_MS,
      );
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (!LISTENING.test(output)) return;
        this.started = true;
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve();
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`embedded PostgreSQL exited (${signal ?? code}): ${output.slice(-500)}`));
        this.onExit(child, code, signal);
      });
    });
  }

  /** An unexpected exit is logged and followed by a restart on the same socket and data. */
  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = null;
    if (this.stopping || !this.started) return;
    this.logger.error(
      `embedded PostgreSQL exited (${signal ?? `code ${code}`}); restarting it in ${RESTART_DELAY_MS} ms`,
    );
    setTimeout(() => {
      if (this.stopping) return;
      this.spawn().then(
        () => this.logger.log(`embedded PostgreSQL is back on ${this.url}`),
        (error: Error) => this.logger.error(error.message),
      );
    }, RESTART_DELAY_MS).unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killTimer);
  }
}
