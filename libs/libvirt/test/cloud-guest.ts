import { existsSync } from 'node:fs';
import { connect } from 'node:net';

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
