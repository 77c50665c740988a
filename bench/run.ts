/**
 * `npm run bench`: runs every benchmark in bench/, one after another (never two at once: they
 * would measure each other), forwards their JSON lines to stdout, then writes
 * docs/benchmarks.md (a table) and docs/benchmarks.svg (a chart) from those lines.
 *
 *   npm run bench                  # everything, then regenerates the docs
 *   npm run bench -- vm-lifecycle  # only the files whose name contains an argument; docs untouched
 *
 * Exits non-zero when a benchmark fails to run. A missed target is reported, not an error:
 * the docs say which targets hold on this machine.
 */
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { BenchResult, renderChart, renderMarkdown } from './lib/report';

/** In this order: the cheap and the hypervisor-only ones first, the long load tests last. */
const FILES = [
  'virsh-transport',
  'storage',
  'backup',
  'vm-lifecycle',
  'event-latency',
  'bulk-create',
  'read-throughput',
  'agent-rss',
  'reachability',
  'web',
  'scale',
];

const ROOT = join(__dirname, '..');

function runOne(name: string): Promise<{ results: BenchResult[]; exitCode: number | null; seconds: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(
      process.execPath,
      [require.resolve('ts-node/dist/bin'), '--transpile-only', join(__dirname, `${name}.bench.ts`)],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const results: BenchResult[] = [];
    let buffer = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n')) >= 0) {
        const text = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        process.stdout.write(`${text}\n`);
        // A result line, not a log line of an api a benchmark runs in its own process.
        if (text.startsWith('{"bench":'))
          results.push({ ...(JSON.parse(text) as Omit<BenchResult, 'file'>), file: name });
      }
    });
    child.once('exit', (exitCode) =>
      resolve({ results, exitCode, seconds: Math.round((Date.now() - started) / 1000) }),
    );
  });
}

function machine(): string {
  const libvirt = (() => {
    try {
      return /libvirt ([\d.]+)/.exec(execFileSync('virsh', ['version'], { encoding: 'utf8' }))?.[1] ?? '?';
    } catch {
      return '?';
    }
  })();
  return `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}, libvirt ${libvirt}, TCG guests`;
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2);
  const selected = filters.length ? FILES.filter((f) => filters.some((arg) => f.includes(arg))) : FILES;
  const results: BenchResult[] = [];
  const failures: string[] = [];
  for (const name of selected) {
    process.stderr.write(`\n[bench] ${name}\n`);
    const run = await runOne(name);
    results.push(...run.results);
    if (run.exitCode !== 0 || run.results.length === 0)
      failures.push(`${name} (exit ${run.exitCode}, ${run.results.length} lines)`);
    process.stderr.write(`[bench] ${name}: ${run.results.length} lines in ${run.seconds} s\n`);
  }
  if (!filters.length) {
    const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
    writeFileSync(
      join(ROOT, 'docs', 'benchmarks.md'),
      renderMarkdown(results, failures, `${when} UTC on ${machine()}`),
    );
    writeFileSync(join(ROOT, 'docs', 'benchmarks.svg'), renderChart(results));
    process.stderr.write('[bench] wrote docs/benchmarks.md and docs/benchmarks.svg\n');
  }
  if (failures.length) {
    process.stderr.write(`[bench] failed: ${failures.join(', ')}\n`);
    process.exit(1);
  }
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
