import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { VolumeRef } from '../src/models';
import { VirtualizationPort } from '../src/port/virtualization-port';

/** The Debian cloud image of scripts/build-cloud-image.sh (qemu-guest-agent, sshd, cloud-init). */
export const CLOUD_IMAGE = process.env.LIMEN_CLOUD_IMAGE ?? '/var/lib/limen/cloud-image/debian-12-cloud.qcow2';
export const CLOUD_BOOT_TIMEOUT_MS = 300_000;
/** The cloud-guest specs skip themselves without the image (scripts/test.sh builds it first). */
export const hasCloudImage = existsSync(CLOUD_IMAGE);

/** The first bytes a TCP server on 127.0.0.1:port sends (the SSH banner), loopback only. */
export function banner(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (text: string) => {
      socket.destroy();
      resolve(text);
    };
    socket.setTimeout(5_000, () => done(''));
    socket.once('data', (chunk: Buffer) => done(chunk.toString('latin1')));
    socket.once('error', () => done(''));
    socket.once('close', () => done(''));
  });
}

/**
 * 64 KiB of `char` written by the guest straight to its disk at 512 KiB, past its page cache: the
 * gap between the cloud image's MBR and its first partition (at 1 MiB), which nothing else uses.
 */
async function writeRawMarker(port: VirtualizationPort, vmId: string, char: 'a' | 'b'): Promise<void> {
  const script = `head -c 65536 /dev/zero | tr '\\000' '${char}' | dd of=/dev/vda bs=65536 seek=8 oflag=direct conv=notrunc status=none`;
  expect(await port.guestExec(vmId, ['/bin/sh', '-c', script])).toMatchObject({ exitCode: 0 });
}

/** Whether the qcow2 image holds 64 KiB of `byte` at 512 KiB (read beside a running QEMU). */
function holdsMarker(path: string, byte: number): boolean {
  const output = execFileSync(
    'qemu-io',
    ['-r', '-U', '-f', 'qcow2', '-c', `read -P 0x${byte.toString(16)} 512k 64k`, path],
    {
      encoding: 'utf8',
    },
  );
  return !/Pattern verification failed/.test(output);
}

/**
 * A consistent backup as the api takes it: the guest's filesystems frozen, the disk backup begun,
 * thawed at once. What the guest writes after the begin is not in the copy; what it wrote before is.
 */
export async function backupWhileTheGuestWrites(
  port: VirtualizationPort,
  vmId: string,
  disk: { id: string; path: string },
  target: VolumeRef,
): Promise<void> {
  await writeRawMarker(port, vmId, 'a');
  expect(await port.freezeFilesystems(vmId)).toBeGreaterThanOrEqual(1);
  try {
    await port.beginDiskBackup(vmId, [{ diskId: disk.id, target }]);
  } finally {
    await port.thawFilesystems(vmId);
  }
  await writeRawMarker(port, vmId, 'b');
  await port.waitDiskBackup(vmId, { timeoutMs: 600_000 });
  const copy = await port.getVolume(target, 'qcow2');
  expect(copy.backingPath).toBeUndefined();
  expect(holdsMarker(copy.path, 0x61)).toBe(true);
  expect(holdsMarker(disk.path, 0x62)).toBe(true);
  await port.deleteVolume(target);
}
