import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Built by scripts/build-cloud-image.sh (Debian 12, cloud-init NoCloud, sshd, qemu-guest-agent). */
export const CLOUD_IMAGE_DIR = '/var/lib/limen/cloud-image';
export const CLOUD_IMAGE_NAME = 'debian-12-cloud.qcow2';
/** LIMEN_CLOUD_IMAGE points at another build (as in the libvirt int specs). */
export const CLOUD_IMAGE_PATH = process.env.LIMEN_CLOUD_IMAGE ?? join(CLOUD_IMAGE_DIR, CLOUD_IMAGE_NAME);
/** cloud-init's default user in that image (SSH keys only, passwordless sudo). */
export const CLOUD_USER = 'debian';

/** Fails with what to run when the image has not been built (scripts/test.sh builds it before the suites). */
export function assertCloudImage(): void {
  if (!existsSync(CLOUD_IMAGE_PATH) || statSync(CLOUD_IMAGE_PATH).size === 0)
    throw new Error(
      `The Debian cloud image ${CLOUD_IMAGE_PATH} is missing: build it with \`sudo bash scripts/build-cloud-image.sh\` ` +
        '(scripts/test.sh does so before the suites; about 3 minutes, cached afterwards).',
    );
}

/**
 * Puts a copy of the cached image into an app's IMAGE_DIR (the scanner skips symbolic links and a
 * disk image may have no backing file, and ext4 has no reflinks, so a plain copy: ~150 MiB). The
 * cache itself is never handed to QEMU or libvirt, so nothing relabels or writes it.
 */
export function provideCloudImage(imageDir: string, name = CLOUD_IMAGE_NAME): string {
  assertCloudImage();
  const target = join(imageDir, name);
  copyFileSync(CLOUD_IMAGE_PATH, target);
  chmodSync(target, 0o644);
  return target;
}

/** A fresh ed25519 key pair in a private temp folder: `{dir, privateKey (path), publicKey (text)}`. */
export function generateSshKey(comment = 'limen-e2e'): { dir: string; privateKey: string; publicKey: string } {
  const dir = mkdtempSync(join(tmpdir(), 'limen-ssh-'));
  const privateKey = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', privateKey]);
  return { dir, privateKey, publicKey: readFileSync(`${privateKey}.pub`, 'utf8').trim() };
}

export interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One `ssh -p PORT debian@HOST command` with a short connect timeout, no host-key checks, no prompts. */
export function ssh(
  privateKey: string,
  port: number,
  command: string,
  options: { host?: string; user?: string; connectTimeoutSeconds?: number } = {},
): Promise<SshResult> {
  const args = [
    '-i',
    privateKey,
    '-p',
    String(port),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'LogLevel=ERROR',
    '-o',
    `ConnectTimeout=${options.connectTimeoutSeconds ?? 5}`,
    `${options.user ?? CLOUD_USER}@${options.host ?? '127.0.0.1'}`,
    command,
  ];
  return new Promise((resolve) => {
    execFile('ssh', args, { encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Retries the command until it exits 0 or `timeoutMs` passes (a guest still booting refuses or
 * drops the connection, or has no key yet). Resolves with the output and the attempts' count.
 */
export async function sshUntilReady(
  privateKey: string,
  port: number,
  command: string,
  timeoutMs: number,
  host = '127.0.0.1',
): Promise<{ stdout: string; attempts: number }> {
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  let last: SshResult | undefined;
  while (Date.now() < deadline) {
    attempts++;
    last = await ssh(privateKey, port, command, { host });
    if (last.code === 0) return { stdout: last.stdout, attempts };
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(
    `ssh -p ${port} ${CLOUD_USER}@${host} ${command} did not succeed within ${timeoutMs} ms ` +
      `(${attempts} attempts; last exit ${last?.code}: ${last?.stderr.trim()})`,
  );
}
