/**
 * Benchmark (not a test): storage on a remote host through the port against raw virsh on the same
 * URI. The host is a second libvirtd whose pool folder this process cannot see
 * (scripts/remote-libvirtd.sh, qemu+tcp on 127.0.0.1), so every byte goes through libvirt. Prints
 * two JSON lines:
 *
 *   disk-create   LibvirtAdapter.createVolume of an empty 1 GiB qcow2 in the host's VM pool
 *                 against `virsh -c URI vol-create-as POOL NAME 1G --format qcow2`
 *   image-upload  LibvirtAdapter.uploadVolume of the Debian cloud image (~150 MiB qcow2) into
 *                 that pool against `virsh vol-create-as` + `virsh vol-upload` of the same file
 *
 * Both sides alternate round by round (drift on this noisy machine hits both alike), round 0
 * warms caches and is not counted, and each volume is deleted (untimed) after its round.
 *
 *   npx ts-node --transpile-only bench/storage.bench.ts [disk rounds] [upload rounds]
 */
import { statSync } from 'node:fs';
import { runProcess } from '../libs/libvirt/src/transport/process-runner';
import { createVirtualizationPort } from '../libs/libvirt/src/port/create-virtualization-port';
import { VM_POOL_NAME } from '../libs/libvirt/src/naming/storage-name';
import { assertCloudImage, CLOUD_IMAGE_PATH } from '../test/support/cloud-image';
import { startRemoteLibvirtd } from '../test/support/remote-libvirtd';
import { median } from './lib/api-process';
import { printResult } from './lib/report';

const DISK_ROUNDS = Number(process.argv[2] ?? 15);
const UPLOAD_ROUNDS = Number(process.argv[3] ?? 5);
const TARGET = 1.1;
const GIB = 2 ** 30;

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

async function main(): Promise<void> {
  assertCloudImage();
  const imageBytes = statSync(CLOUD_IMAGE_PATH).size;
  const remote = await startRemoteLibvirtd();
  const port = createVirtualizationPort({ uri: remote.uri, virtType: 'qemu' });
  const virsh = (...args: string[]) => runProcess('virsh', ['-q', '-c', remote.uri, ...args]);
  try {
    await port.ensureStoragePool({ name: VM_POOL_NAME, type: 'dir', path: remote.poolDir });
    const pool = VM_POOL_NAME;

    const diskPort: number[] = [];
    const diskRaw: number[] = [];
    for (let round = 0; round <= DISK_ROUNDS; round++) {
      const portMs = await timed(() =>
        port.createVolume({ pool, name: `bench-port-${round}.qcow2`, sizeBytes: GIB, format: 'qcow2' }),
      );
      const rawMs = await timed(() =>
        virsh('vol-create-as', pool, `bench-raw-${round}.qcow2`, '1G', '--format', 'qcow2'),
      );
      await port.deleteVolume({ pool, name: `bench-port-${round}.qcow2` });
      await virsh('vol-delete', '--pool', pool, `bench-raw-${round}.qcow2`);
      if (round > 0) {
        diskPort.push(portMs);
        diskRaw.push(rawMs);
      }
    }
    printResult('disk-create', median(diskPort), 'ms', median(diskRaw), TARGET);

    const uploadPort: number[] = [];
    const uploadRaw: number[] = [];
    for (let round = 0; round <= UPLOAD_ROUNDS; round++) {
      const portMs = await timed(() =>
        port.uploadVolume({ pool, name: `bench-port-${round}.img` }, CLOUD_IMAGE_PATH, { format: 'qcow2' }),
      );
      // What a person with virsh does: a volume of the file's size, then the bytes into it. Sparse
      // (--allocation 0) like the port's: by default libvirt would first allocate every byte of it.
      const rawMs = await timed(async () => {
        await virsh(
          'vol-create-as',
          pool,
          `bench-raw-${round}.img`,
          String(imageBytes),
          '--allocation',
          '0',
          '--format',
          'raw',
        );
        await virsh('vol-upload', '--pool', pool, `bench-raw-${round}.img`, CLOUD_IMAGE_PATH);
      });
      await port.deleteVolume({ pool, name: `bench-port-${round}.img` });
      await virsh('vol-delete', '--pool', pool, `bench-raw-${round}.img`);
      if (round > 0) {
        uploadPort.push(portMs);
        uploadRaw.push(rawMs);
      }
    }
    printResult('image-upload', median(uploadPort), 'ms', median(uploadRaw), TARGET);
    process.stderr.write(
      `[storage] ${Math.round(imageBytes / 2 ** 20)} MiB image; upload medians port ${Math.round(median(uploadPort))} ms, raw ${Math.round(median(uploadRaw))} ms\n`,
    );
  } finally {
    await port.close();
    await remote.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
