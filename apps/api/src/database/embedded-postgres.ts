import { Logger } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

const LISTENING = /PGLiteSocketServer listening on (\{.*\})/;
const START_TIMEOUT_MS = 60_000;
const RESTART_DELAY_MS = 1_000;

const SERVER_SCRIPT = join('node_modules', '@electric-sql', 'pglite-socket', 'dist', 'scripts', 'server.cjs');

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
 * PGlite (PostgreSQL in WASM) persisted under DATA_DIR/pg and served on a
 * loopback port by pglite-socket, in a child process of the api. The api uses
 * the same `pg` driver, dialect and migrations as with a real server.
 *
 * A separate process keeps PGlite's WASM heap (150-350 MB) out of the api's
 * RSS, and lets the database die and come back (it is restarted on the same
 * port) while the api keeps running, as with a real server.
 *
 * PGlite is one database session: callers must use a pool of exactly one
 * connection (see dataSourceOptions).
 */
export class EmbeddedPostgres {
  private readonly logger = new Logger('EmbeddedPostgres');
  private child: ChildProcess | null = null;
  private stopping = false;
  private port = 0;

  private constructor(private readonly dir: string) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** The server's pid, for tests that kill it. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  static async start(dataDir: string): Promise<EmbeddedPostgres> {
    const dir = join(dataDir, 'pg');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const embedded = new EmbeddedPostgres(dir);
    await embedded.spawn();
    return embedded;
  }

  private spawn(): Promise<void> {
    // --liftoff-only: V8's optimizing tier would compile PGlite's WASM a second time
    // and keep both copies (~150 MB measured here), for no gain on small queries.
    // The child exits when its stdin (a pipe from the api) closes, so a killed api never leaves it behind.
    const guard = `process.stdin.on('end', () => process.exit(0)); process.stdin.resume(); require(${JSON.stringify(serverScript())});`;
    const child = spawn(process.execPath, ['--liftoff-only', '-e', guard, '--', `--db=${this.dir}`, '--host=127.0.0.1', `--port=${this.port}`], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    return new Promise((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`embedded PostgreSQL did not start within ${START_TIMEOUT_MS / 1000} s: ${output.slice(-500)}`)), START_TIMEOUT_MS);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const listening = LISTENING.exec(output);
        if (!listening) return;
        this.port = (JSON.parse(listening[1]) as { port: number }).port;
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

  /** An unexpected exit is logged and followed by a restart on the same port and data. */
  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = null;
    if (this.stopping || this.port === 0) return;
    this.logger.error(`embedded PostgreSQL exited (${signal ?? `code ${code}`}); restarting it in ${RESTART_DELAY_MS} ms`);
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
