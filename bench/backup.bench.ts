/**
 * Benchmark (not a test): backups and restores through the api against the raw tools on the same
 * disk. A VM made from the Debian cloud image with 512 MiB of random data added (stopped, so both
 * sides read the same bytes) is backed up through `POST /vms/{id}/backups` (flatten + compress +
 * SHA-256 + manifest, written atomically) against `qemu-img convert -c -O qcow2` of its disk, then
 * restored into a new VM through `POST /backups/{id}/restore` (checksums verified, volume written,
 * seed and domain made) against what a careful person does by hand: `sha256sum` of the backup
 * file, then a plain copy of it into the VM folder. Prints two JSON lines, as throughput of the
 * disk's virtual size (ratio = api / raw, higher is better):
 *
 *   backup-throughput   target ratio ≥ 0.8
 *   restore-throughput  target ratio ≥ 0.8
 *
 * Both sides alternate round by round; round 0 warms caches and is not counted.
 *
 *   npx ts-node --transpile-only bench/backup.bench.ts [rounds]
 */
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProcess } from '../libs/libvirt/src/transport/process-runner';
import { assertCloudImage, CLOUD_IMAGE_PATH } from '../test/support/cloud-image';
import { BenchApi, median, startBenchApi } from './lib/api-process';
import { printResult } from './lib/report';

const ROUNDS = Number(process.argv[2] ?? 3);
const TARGET = 0.8;
const MIB = 2 ** 20;

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/** Waits (as long as it takes) for the operation behind a 202; throws unless it succeeded. */
async function settle(api: BenchApi, location: string | null): Promise<void> {
  for (;;) {
    const op = await api.call('GET', `${location}/wait?timeout=60`);
    if (op.body.status === 'succeeded') return;
    if (op.body.status === 'failed' || op.body.status === 'cancelled')
      throw new Error(`operation ${op.body.kind} ended ${op.body.status}: ${JSON.stringify(op.body.error)}`);
  }
}

async function accepted(api: BenchApi, path: string, body: unknown): Promise<{ body: any; location: string | null }> {
  const res = await api.call('POST', path, body);
  if (res.status !== 202) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  await settle(api, res.location);
  return res;
}

const BENCH_IMAGE = 'bench-backup.qcow2';
const RANDOM_MIB = 512;

/**
 * The Debian cloud image with 512 MiB of random bytes written into its unused last quarter: a
 * disk holding real data, so both sides move hundreds of MiB and not only the fixed costs of an
 * operation (the guest never boots from it).
 */
async function benchImage(imageDir: string, scratch: string): Promise<void> {
  const raw = join(scratch, 'bench.raw');
  await runProcess('qemu-img', ['convert', '-O', 'raw', CLOUD_IMAGE_PATH, raw]);
  const virtualMiB = statSync(raw).size / MIB;
  await runProcess('dd', [
    'if=/dev/urandom',
    `of=${raw}`,
    'bs=1M',
    `count=${RANDOM_MIB}`,
    `seek=${virtualMiB - RANDOM_MIB}`,
    'conv=notrunc',
  ]);
  await runProcess('qemu-img', ['convert', '-O', 'qcow2', raw, join(imageDir, BENCH_IMAGE)]);
  rmSync(raw, { force: true });
}

async function main(): Promise<void> {
  assertCloudImage();
  const backupDir = mkdtempSync(join(tmpdir(), 'limen-bench-backups-'));
  const scratch = mkdtempSync(join(tmpdir(), 'limen-bench-raw-'));
  const api = await startBenchApi({ BACKUP_DIR: backupDir, DEFAULT_QUOTA_BACKUP_GIB: '10000' });
  try {
    await benchImage(api.imageDir, scratch);
    await api.call('POST', '/api/v1/images/rescan');
    const images = (await api.call('GET', '/api/v1/images')).body.items as Array<{ id: string; name: string }>;
    const imageId = images.find((image) => image.name === BENCH_IMAGE)!.id;
    const created = await accepted(api, '/api/v1/vms', {
      name: 'bench-backup',
      vcpus: 1,
      memoryMiB: 512,
      diskGiB: 3,
      imageId,
      start: false,
    });
    const vmId: string = created.body.vm.id;
    const [boot] = (await api.call('GET', `/api/v1/vms/${vmId}/disks`)).body.items as Array<{
      id: string;
      sizeGiB: number;
    }>;
    const diskPath = join(api.vmDir, `${vmId}-disk-${boot.id}.qcow2`);
    const diskMiB = (boot.sizeGiB * 1024 ** 3) / MIB;

    const backupApi: number[] = [];
    const backupRaw: number[] = [];
    const restoreApi: number[] = [];
    const restoreRaw: number[] = [];
    for (let round = 0; round <= ROUNDS; round++) {
      let backupId = '';
      const apiBackupMs = await timed(async () => {
        backupId = (await accepted(api, `/api/v1/vms/${vmId}/backups`, {})).body.backup.id;
      });
      const rawFile = join(scratch, `raw-${round}.qcow2`);
      const rawBackupMs = await timed(() =>
        runProcess('qemu-img', ['convert', '-c', '-O', 'qcow2', diskPath, rawFile]),
      );

      let restoredId = '';
      const apiRestoreMs = await timed(async () => {
        restoredId = (
          await accepted(api, `/api/v1/backups/${backupId}/restore`, {
            target: 'new',
            name: `bench-restored-${round}`,
            start: false,
          })
        ).body.vm.id;
      });
      // By hand, a careful restore checks the file against its recorded digest before copying it.
      const copied = join(api.vmDir, `raw-restore-${round}.qcow2`);
      const backupFile = join(backupDir, backupId, 'disk-0.qcow2');
      const rawRestoreMs = await timed(async () => {
        await runProcess('sha256sum', [backupFile]);
        copyFileSync(backupFile, copied);
      });

      // Untimed clean-up, so the next round starts from the same disk usage.
      rmSync(rawFile, { force: true });
      rmSync(copied, { force: true });
      await settle(api, (await api.call('DELETE', `/api/v1/vms/${restoredId}`)).location);
      await api.call('DELETE', `/api/v1/backups/${backupId}`);
      if (round > 0) {
        backupApi.push(apiBackupMs);
        backupRaw.push(rawBackupMs);
        restoreApi.push(apiRestoreMs);
        restoreRaw.push(rawRestoreMs);
      }
    }
    const mibPerSecond = (ms: number) => diskMiB / (ms / 1000);
    const backup = { api: mibPerSecond(median(backupApi)), raw: mibPerSecond(median(backupRaw)) };
    const restore = { api: mibPerSecond(median(restoreApi)), raw: mibPerSecond(median(restoreRaw)) };
    printResult('backup-throughput', backup.api, 'MiB/s', backup.raw, TARGET);
    printResult('restore-throughput', restore.api, 'MiB/s', restore.raw, TARGET);
    // The source VM goes too: its domain would outlive the bench api otherwise.
    await settle(api, (await api.call('DELETE', `/api/v1/vms/${vmId}`)).location);
    process.stderr.write(
      `[backup] ${diskMiB} MiB disk; medians backup api ${Math.round(median(backupApi))} ms / qemu-img ${Math.round(median(backupRaw))} ms, restore api ${Math.round(median(restoreApi))} ms / sha256sum + cp ${Math.round(median(restoreRaw))} ms\n`,
    );
  } finally {
    await api.stop();
    rmSync(backupDir, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
