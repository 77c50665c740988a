import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';

const REPO_ROOT = resolve(__dirname, '../../..');

/** The tiny test guest (scripts/build-test-guest.sh); built on first use, idempotent after. */
export interface TestGuest {
  kernelPath: string;
  initrdPath: string;
  cmdline: string;
}

export const GUEST_MARKER = 'LIMEN-GUEST-READY';

export function ensureTestGuest(): TestGuest {
  const dir = process.env.LIMEN_TEST_GUEST_DIR ?? '/var/lib/limen/test-guest';
  execFileSync('bash', [join(REPO_ROOT, 'scripts/build-test-guest.sh'), dir], { stdio: 'pipe' });
  return {
    kernelPath: join(dir, 'vmlinuz'),
    initrdPath: join(dir, 'initrd.img'),
    cmdline: readFileSync(join(dir, 'cmdline'), 'utf8').trim(),
  };
}

/**
 * A per-run folder QEMU (user libvirt-qemu) can traverse: never under /root or the repo clone,
 * which may be 0700.
 */
export function makeRunDir(label: string): { dir: string; cleanup: () => void } {
  const base = process.env.LIMEN_TEST_RUN_DIR ?? '/var/lib/limen/test-runs';
  mkdirSync(base, { recursive: true, mode: 0o755 });
  chmodSync(base, 0o755);
  const dir = join(base, `${label}-${randomUUID().slice(0, 8)}`);
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  return { dir, cleanup: () => existsSync(dir) && rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A qcow2 disk written by qemu-img itself (mode 0644 in a 0755 folder, which libvirt relabels for
 * QEMU), for specs about something other than storage: empty of `size` (`16M`), or over `backing`.
 */
export function makeDisk(path: string, size: string | { backing: string }): string {
  const args = typeof size === 'string' ? [path, size] : ['-b', size.backing, '-F', 'qcow2', path];
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', ...args], { stdio: 'pipe' });
  return path;
}

export function qemuIo(image: string, command: string): { ok: boolean; output: string } {
  try {
    const output = execFileSync('qemu-io', ['-f', 'qcow2', '-c', command, image], { encoding: 'utf8', stdio: 'pipe' });
    // qemu-io exits 0 even when a pattern check fails; it reports the mismatch in its output.
    return { ok: !/Pattern verification failed|error|failed/i.test(output), output };
  } catch (error) {
    return { ok: false, output: String((error as { stderr?: string }).stderr ?? error) };
  }
}

export function makeIso(dir: string, name: string): string {
  const content = join(dir, `${name}-content`);
  mkdirSync(content, { recursive: true });
  execFileSync('bash', ['-c', 'echo hello > "$1/hello.txt"', '_', content]);
  const iso = join(dir, `${name}.iso`);
  execFileSync('genisoimage', ['-quiet', '-V', 'LIMENTEST', '-o', iso, content]);
  return iso;
}

/** Runs Debian's isoinfo (from genisoimage) on an image and returns its raw output. */
export function isoinfo(iso: string, args: readonly string[]): Buffer {
  return execFileSync('isoinfo', ['-i', iso, ...args], { stdio: 'pipe' });
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
