/**
 * Benchmark (not a test): how much later than libvirt itself the api's SSE stream reports an
 * out-of-band `virsh destroy`. Side by side on every round, both clocks starting when the destroy
 * is issued:
 *
 *   - the api: an SSE client on /api/v1/events waiting for `vm.state` `stopped` of the VM;
 *   - baseline: a raw `virsh event --loop --event lifecycle` subscriber, the earliest moment
 *     anything outside libvirtd can know the domain stopped.
 *
 * The result is the added latency (api minus raw, median over the rounds), target ≤ 250 ms.
 * Needs `npm run build`. Prints one JSON line.
 *
 *   npx ts-node --transpile-only bench/event-latency.bench.ts [rounds]
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { LIBVIRT_URI, openEventStream } from '../test/support/hypervisor';
import { median, startBenchApi } from './lib/api-process';
import { printResult } from './lib/report';

const ROUNDS = Number(process.argv[2] ?? 7);
const TARGET_ADDED_MS = 250;

/** Every lifecycle event libvirtd emits, with the time this process read it. */
function rawLifecycleEvents() {
  const child = spawn('virsh', ['-c', LIBVIRT_URI, 'event', '--loop', '--event', 'lifecycle'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const waiters: Array<{ match: (line: string) => boolean; resolve: (at: number) => void }> = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const at = performance.now();
    for (const waiter of [...waiters]) {
      if (waiter.match(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(at);
      }
    }
  });
  return {
    /** Resolves when a line naming `domain` and containing `word` arrives. */
    next: (domain: string, word: string) =>
      new Promise<number>((resolve) =>
        waiters.push({ match: (line) => line.includes(`'${domain}'`) && line.includes(word), resolve }),
      ),
    close: () => child.kill(),
  };
}

function virshAsync(...args: string[]): Promise<number | null> {
  return new Promise((resolve) =>
    spawn('virsh', ['-c', LIBVIRT_URI, ...args], { stdio: 'ignore' }).once('exit', resolve),
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms),
  );
  return Promise.race([promise, timeout]);
}

async function main(): Promise<void> {
  const api = await startBenchApi();
  const raw = rawLifecycleEvents();
  const stream = await openEventStream(api.base, api.accessToken);
  try {
    const created = await api.call('POST', '/api/v1/vms', {
      name: 'bench-events',
      vcpus: 1,
      memoryMiB: 128,
      diskGiB: 1,
      imageId: api.imageId,
      start: false,
    });
    await api.settle(created.location);
    const vmId = created.body.vm.id as string;
    const domain = `limen-${vmId}`;
    const apiMs: number[] = [];
    const rawMs: number[] = [];
    for (let round = 0; round <= ROUNDS; round++) {
      await api.settle((await api.call('POST', `/api/v1/vms/${vmId}/actions`, { action: 'start' })).location);
      const seenBefore = stream.events.length;
      const rawStopped = raw.next(domain, 'Stopped');
      const apiStopped = stream.waitFor(
        (e) =>
          stream.events.indexOf(e) >= seenBefore &&
          e.type === 'vm.state' &&
          e.data.vmId === vmId &&
          e.data.state === 'stopped',
        30_000,
      );
      const issuedAt = performance.now();
      const [destroyed, rawAt, event] = await Promise.all([
        virshAsync('destroy', domain),
        withTimeout(rawStopped, 30_000, 'virsh event'),
        apiStopped,
      ]);
      if (destroyed !== 0) throw new Error(`virsh destroy exited ${destroyed}`);
      // SSE events carry Date.now(); convert to the performance clock the other two use.
      const apiAt = event.receivedAt - Date.now() + performance.now();
      // Round 0 warms both paths and is not counted.
      if (round > 0) {
        apiMs.push(apiAt - issuedAt);
        rawMs.push(rawAt - issuedAt);
      }
    }
    const del = await api.call('DELETE', `/api/v1/vms/${vmId}`);
    await api.settle(del.location);
    const added = median(apiMs.map((ms, i) => ms - rawMs[i]));
    const round = (n: number) => Math.round(n * 10) / 10;
    process.stderr.write(
      `[event-latency] api ${apiMs.map(round).join(', ')} ms; raw virsh event ${rawMs.map(round).join(', ')} ms after the destroy was issued\n`,
    );
    // value: the api's added latency; baseline: libvirt's own latency; ratio: api / raw, end to end.
    const apiMedian = median(apiMs);
    const rawMedian = median(rawMs);
    printResult('event-latency-added', added, 'ms', rawMedian, TARGET_ADDED_MS, apiMedian / rawMedian);
  } finally {
    stream.close();
    raw.close();
    await api.stop();
  }
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
