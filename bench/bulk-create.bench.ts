/**
 * Benchmark (not a test): 20 VMs created concurrently through the api until each
 * guest prints its marker, against a raw sequential virsh script doing the same
 * (disk, define, start, wait for the marker, one after another). Needs `npm run build`.
 *
 *   npx ts-node --transpile-only bench/bulk-create.bench.ts [count]
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { GUEST_MARKER, virsh } from '../test/support/hypervisor';
import { startBenchApi } from './lib/api-process';
import { printResult } from './lib/report';
import { defineRawTwin, rawWorkDir } from './lib/raw-domain';

const COUNT = Number(process.argv[2] ?? 20);
const TARGET = 1.0;

/** Both sides look for the marker at the same rate, as a client watching 20 consoles would. */
const POLL_MS = 250;

async function until(probe: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function main(): Promise<void> {
  // 21 one-vCPU VMs on a 2-core machine: past the default 400 % CPU overcommit the scheduler
  // (rightly) refuses them, and the raw script has no such limit. Measure the work, not the policy.
  const api = await startBenchApi({ CPU_OVERCOMMIT_PERCENT: '2000' });
  const work = rawWorkDir();
  const vmIds: string[] = [];
  try {
    // A stopped template VM gives the raw script an identical domain definition.
    const template = await api.call('POST', '/api/v1/vms', {
      name: 'template',
      vcpus: 1,
      memoryMiB: 128,
      diskGiB: 1,
      imageId: api.imageId,
      start: false,
    });
    await api.settle(template.location);
    vmIds.push(template.body.vm.id);

    let t0 = performance.now();
    const created = await Promise.all(
      Array.from({ length: COUNT }, (_, i) =>
        api.call('POST', '/api/v1/vms', {
          name: `bulk-${i}`,
          vcpus: 1,
          memoryMiB: 128,
          diskGiB: 1,
          imageId: api.imageId,
        }),
      ),
    );
    for (const res of created) {
      if (res.status !== 202) throw new Error(`create answered ${res.status}: ${JSON.stringify(res.body)}`);
      vmIds.push(res.body.vm.id);
    }
    await Promise.all(
      created.map((res) =>
        until(
          async () => {
            const serial = await api.call('GET', `/api/v1/vms/${res.body.vm.id}/serial?bytes=4096`);
            return serial.status === 200 && String(serial.body).includes(GUEST_MARKER);
          },
          300_000,
          `marker of ${res.body.vm.name}`,
        ),
      ),
    );
    const apiMs = performance.now() - t0;
    for (const id of vmIds.slice(1))
      await api.settle((await api.call('POST', `/api/v1/vms/${id}/actions`, { action: 'stop' })).location);

    const twins: Array<ReturnType<typeof defineRawTwin>> = [];
    t0 = performance.now();
    let rawMs: number;
    try {
      for (let i = 0; i < COUNT; i++) {
        const twin = defineRawTwin(template.body.vm.id, work);
        twins.push(twin);
        if (virsh('start', twin.name).status !== 0) throw new Error('virsh start failed');
        await until(
          () => existsSync(twin.serialLog) && readFileSync(twin.serialLog, 'utf8').includes(GUEST_MARKER),
          300_000,
          `marker of ${twin.name}`,
        );
      }
      rawMs = performance.now() - t0;
    } finally {
      for (const twin of twins) twin.remove();
    }
    printResult('bulk-create-20', apiMs, 'ms', rawMs, TARGET);
  } finally {
    for (const id of vmIds) {
      const del = await api.call('DELETE', `/api/v1/vms/${id}`);
      await api.settle(del.location).catch(() => undefined);
    }
    rmSync(work, { recursive: true, force: true });
    await api.stop();
  }
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
