/**
 * Benchmark (not a test): from the api's create request (a VM of the Debian cloud image with an
 * SSH key from /ssh-keys and a port forward for 22) to the first SSH command that succeeds
 * through the forward, against a raw script that boots the same image with virsh (overlay,
 * NoCloud seed ISO on virtio-scsi, user-mode hostfwd, a minimal domain XML) and waits for SSH the
 * same way. The two alternate (3 rounds by default), one VM at a time, after a warm-up boot.
 * Needs `npm run build` and the image (scripts/build-cloud-image.sh). Prints one JSON line.
 *
 *   npx ts-node --transpile-only bench/reachability.bench.ts [rounds]
 */
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { CLOUD_IMAGE_NAME, generateSshKey, provideCloudImage, sshUntilReady } from '../test/support/cloud-image';
import { BenchApi, median, startBenchApi } from './lib/api-process';
import { startRawCloudVm } from './lib/raw-cloud-vm';
import { rawWorkDir } from './lib/raw-domain';
import { printResult } from './lib/report';
import { virsh } from '../test/support/hypervisor';

const ROUNDS = Number(process.argv[2] ?? 3);
const TARGET = 1.1;
const SSH_TIMEOUT_MS = 300_000;

let keys: ReturnType<typeof generateSshKey>;

/** A port nothing listens on now (the raw VM's forward). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function limenRound(api: BenchApi, round: number, imageId: string, sshKeyId: string, userNetworkId: string) {
  const t0 = performance.now();
  const created = await api.call('POST', '/api/v1/vms', {
    name: `bench-reach-${round}`,
    vcpus: 1,
    memoryMiB: 512,
    diskGiB: 2,
    imageId,
    sshKeyIds: [sshKeyId],
    nics: [{ networkId: userNetworkId, portForwards: [{ guestPort: 22 }] }],
  });
  if (created.status !== 202) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
  const vmId = created.body.vm.id as string;
  try {
    await api.settle(created.location);
    process.stderr.write(
      `[reachability] round ${round + 1} limen: create operation done after ${Math.round(performance.now() - t0)} ms\n`,
    );
    if (process.env.BENCH_DUMP_XML) process.stderr.write(virsh('dumpxml', `limen-${vmId}`).stdout);
    const forwards = await api.call('GET', `/api/v1/vms/${vmId}/port-forwards`);
    const hostPort = forwards.body.items[0].hostPort as number;
    await sshUntilReady(keys.privateKey, hostPort, 'true', SSH_TIMEOUT_MS);
    return performance.now() - t0;
  } finally {
    const del = await api.call('DELETE', `/api/v1/vms/${vmId}`);
    await api.settle(del.location).catch(() => undefined);
  }
}

async function rawRound(work: string, image: string) {
  const hostPort = await freeLoopbackPort();
  const t0 = performance.now();
  const vm = startRawCloudVm(work, image, keys.publicKey, hostPort);
  try {
    await sshUntilReady(keys.privateKey, hostPort, 'true', SSH_TIMEOUT_MS);
    return performance.now() - t0;
  } finally {
    vm.remove();
  }
}

async function main(): Promise<void> {
  keys = generateSshKey('limen-bench');
  const base = 22000 + Math.floor(Math.random() * 50) * 100;
  const api = await startBenchApi({ PORT_FORWARD_RANGE: `${base}-${base + 99}` });
  const work = rawWorkDir();
  try {
    const image = provideCloudImage(api.imageDir);
    await api.call('POST', '/api/v1/images/rescan');
    const images = await api.call('GET', '/api/v1/images');
    const imageId = images.body.items.find((i: { name: string }) => i.name === CLOUD_IMAGE_NAME).id as string;
    const key = await api.call('POST', '/api/v1/ssh-keys', { name: 'bench', publicKey: keys.publicKey });
    if (key.status !== 201) throw new Error(`POST /ssh-keys answered ${key.status}: ${JSON.stringify(key.body)}`);
    const networks = await api.call('GET', '/api/v1/networks');
    const userNetworkId = networks.body.items.find((n: { kind: string }) => n.kind === 'user').id as string;

    // Warm-up, not counted: QEMU, the firmware and the image's boot files into the page cache, so
    // the first boot measured (LIMEN's) does not pay for them alone.
    const warm = startRawCloudVm(work, image, keys.publicKey, await freeLoopbackPort());
    await new Promise((r) => setTimeout(r, 15_000));
    warm.remove();

    const limenTimes: number[] = [];
    const rawTimes: number[] = [];
    // Alternate the two so drift on this noisy machine hits both alike; never two VMs at once.
    for (let round = 0; round < ROUNDS; round++) {
      const [first, second] = round % 2 === 0 ? ['limen', 'raw'] : ['raw', 'limen'];
      for (const side of [first, second]) {
        const ms =
          side === 'limen'
            ? await limenRound(api, round, imageId, key.body.id, userNetworkId)
            : await rawRound(work, image);
        (side === 'limen' ? limenTimes : rawTimes).push(ms);
        process.stderr.write(`[reachability] round ${round + 1} ${side}: ${Math.round(ms)} ms to SSH\n`);
      }
    }
    printResult('reachability-create-to-ssh', median(limenTimes), 'ms', median(rawTimes), TARGET);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(keys.dir, { recursive: true, force: true });
    await api.stop();
  }
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
