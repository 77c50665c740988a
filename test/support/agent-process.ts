import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** The built agent, as an operator runs it (`npm run build` emits it). */
export const AGENT_MAIN = join(__dirname, '..', '..', 'dist', 'apps', 'agent', 'main.js');

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface AgentProcess {
  child: ChildProcess;
  url: string;
  stop: () => Promise<void>;
}

/** Spawns dist/apps/agent/main.js on a free loopback port (or AGENT_PORT) and waits for its /health. */
export async function startAgent(env: Record<string, string>): Promise<AgentProcess> {
  if (!existsSync(AGENT_MAIN)) throw new Error(`${AGENT_MAIN} is missing: run npm run build first`);
  const port = env.AGENT_PORT ? Number(env.AGENT_PORT) : await freePort();
  const child = spawn(process.execPath, [AGENT_MAIN], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, AGENT_PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const url = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`agent exited early: ${output}`);
    if (
      await fetch(`${url}/health`).then(
        (r) => r.status === 200,
        () => false,
      )
    )
      return { child, url, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`agent not ready within 20 s: ${output}`);
}
