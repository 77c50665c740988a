/**
 * Benchmark (not a test): starting a VM through the api (POST action, until the
 * operation succeeds) against a raw `virsh start` of an identical domain.
 * Needs `npm run build`. Prints one JSON line.
 *
 *   npx ts-node --transpile-only bench/vm-lifecycle.bench.ts [rounds]
 */
import { rmSync } from 'node:fs';
import { virsh } from '../test/support/hypervisor';
import { median, startBenchApi } from './lib/api-process';
import { printResult } from './lib/report';
import { defineRawTwin, rawWorkDir } from './lib/raw-domain';

const ROUNDS = Number(process.argv[2] ?? 7);
const TARGET = 1.15;

async function main(): Promise<void> {
  const api = await startBenchApi();
  const work = rawWorkDir();
  try {
    const created = await api.call('POST', '/api/v1/vms', {
      name: 'bench-start',
      vcpus: 1,
      memoryMiB: 128,
      diskGiB: 1,
      imageId: api.imageId,
      start: false,
    });
    await api.settle(created.location);
    const vmId = created.body.vm.id as string;
    const raw = defineRawTwin(vmId, work);
    const apiTimes: number[] = [];
    const rawTimes: number[] = [];
    try {
      // Alternate the two so drift on this noisy machine hits both alike.
      for (let round = 0; round <= ROUNDS; round++) {
        let t0 = performance.now();
        const start = await api.call('POST', `/api/v1/vms/${vmId}/actions`, { action: 'start' });
        await api.settle(start.location);
        const apiMs = performance.now() - t0;
        await api.settle((await api.call('POST', `/api/v1/vms/${vmId}/actions`, { action: 'stop' })).location);

        t0 = performance.now();
        const started = virsh('start', raw.name);
        const rawMs = performance.now() - t0;
        if (started.status !== 0) throw new Error(`virsh start failed: ${started.stderr}`);
        virsh('destroy', raw.name);
        // Round 0 warms caches on both sides and is not counted.
        if (round > 0) {
          apiTimes.push(apiMs);
          rawTimes.push(rawMs);
        }
      }
    } finally {
      raw.remove();
      const del = await api.call('DELETE', `/api/v1/vms/${vmId}`);
      await api.settle(del.location).catch(() => undefined);
    }
    printResult('vm-start-overhead', median(apiTimes), 'ms', median(rawTimes), TARGET);
  } finally {
    rmSync(work, { recursive: true, force: true });
    await api.stop();
  }
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
