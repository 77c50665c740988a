/**
 * Benchmark (not a test): resident memory of the built agent while idle and under sustained
 * scraping, against its 80 MiB budget. Sustained means `SCRAPES` scrapes, 10 at a time, over
 * several cache TTLs, so many real samples are taken. Prints one JSON line per result.
 * Needs `npm run build`.
 *
 *   npx ts-node --transpile-only bench/agent-rss.bench.ts [scrapes]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../test/support/agent-process';
import { rssMiB } from '../test/support/processes';
import { printResult } from './lib/report';

const MAIN = join(__dirname, '..', 'dist', 'apps', 'agent', 'main.js');
const SCRAPES = Number(process.argv[2] ?? 500);
const BUDGET_MIB = 80;
const TOKEN = 'bench-agent-token-0123456789';

function print(bench: string, value: number): void {
  printResult(bench, value, 'MiB', BUDGET_MIB, BUDGET_MIB);
}

async function main(): Promise<void> {
  const port = await freePort();
  const agent = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, AGENT_TOKEN: TOKEN, AGENT_PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: 'inherit',
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    while (
      !(await fetch(`${base}/health`).then(
        (r) => r.ok,
        () => false,
      ))
    )
      await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 2000)); // let start-up garbage settle
    print('agent-rss-idle', rssMiB(agent.pid!));

    let peak = 0;
    let next = 0;
    const worker = async () => {
      while (next < SCRAPES) {
        const i = next++;
        const res = await fetch(`${base}${i % 2 ? '/metrics' : '/metrics/prometheus'}`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        if (res.status !== 200) throw new Error(`scrape answered ${res.status}`);
        await res.text();
        if (i % 25 === 0) {
          peak = Math.max(peak, rssMiB(agent.pid!));
          await new Promise((r) => setTimeout(r, 100)); // spread over several 2 s TTLs
        }
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    print('agent-rss-peak-under-load', Math.max(peak, rssMiB(agent.pid!)));
  } finally {
    agent.kill('SIGTERM');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
