/**
 * Benchmark (not a test): the persistent virsh session pool against one virsh process per
 * call, on the same read-only commands. Prints one JSON line.
 *
 *   npx ts-node --transpile-only bench/virsh-transport.bench.ts [iterations]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { runProcess } from '../libs/libvirt/src/transport/process-runner';
import { VirshCommand, virshArgv } from '../libs/libvirt/src/transport/virsh-command';
import { VirshPool } from '../libs/libvirt/src/transport/virsh-pool';
import { printResult } from './lib/report';

const URI = process.env.LIBVIRT_URI ?? 'qemu:///system';
const ITERATIONS = Number(process.argv[2] ?? 100);
const TARGET_RATIO = 20;

async function main(): Promise<void> {
  // domstate needs a defined domain; a minimal one that is never started.
  const domain = `limen-bench-${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'limen-bench-'));
  const xml = join(dir, 'domain.xml');
  writeFileSync(
    xml,
    `<domain type='qemu'><name>${domain}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>`,
  );
  await runProcess('virsh', ['-q', '-c', URI, 'define', xml]);

  const commands: VirshCommand[] = [
    { name: 'version' },
    { name: 'list', flags: ['all'] },
    { name: 'domstate', options: { domain } },
  ];
  const pool = new VirshPool({ uri: URI, size: 2 });
  try {
    // Warm-up: start the sessions and let libvirtd cache what it caches, for both sides.
    for (const command of commands) {
      await pool.run(command);
      await runProcess('virsh', ['-q', '-c', URI, ...virshArgv(command)]);
    }

    // Sequential on both sides: per-command latency, not pool parallelism.
    let started = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) for (const command of commands) await pool.run(command);
    const poolMs = Number(process.hrtime.bigint() - started) / 1e6 / (ITERATIONS * commands.length);

    started = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) {
      for (const command of commands) await runProcess('virsh', ['-q', '-c', URI, ...virshArgv(command)]);
    }
    const spawnMs = Number(process.hrtime.bigint() - started) / 1e6 / (ITERATIONS * commands.length);

    // ratio: how many times faster the pool is (baseline / value).
    printResult('virsh-transport', poolMs, 'ms/command', spawnMs, TARGET_RATIO, spawnMs / poolMs);
  } finally {
    await pool.close();
    await runProcess('virsh', ['-q', '-c', URI, 'undefine', domain], { allowFailure: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
