import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, IncomingMessage } from 'node:http';
import { join } from 'node:path';

/** Built by scripts/build-test-guest.sh: Debian's cloud kernel + a busybox initramfs printing the marker. */
export const GUEST_DIR = '/var/lib/limen/test-guest';
export const GUEST_MARKER = 'LIMEN-GUEST-READY';
export const KERNEL_IMAGE_NAME = 'tiny-guest';
export const LIBVIRT_URI = 'qemu:///system';

/**
 * Private IMAGE_DIR and VM_DIR for one test app, under /var/lib/limen so QEMU
 * (user libvirt-qemu) can traverse them, with the test guest as a kernel image.
 * Private folders also keep each app's orphan sweep away from other apps' domains.
 */
export function hypervisorSandbox(): {
  env: Record<string, string>;
  vmDir: string;
  imageDir: string;
  /** The app's storage pools (STORAGE_POOL_PREFIX): VM pool, image pool. */
  pools: string[];
  cleanup: () => void;
} {
  if (!existsSync(join(GUEST_DIR, 'vmlinuz')))
    execFileSync('bash', [join(__dirname, '..', '..', 'scripts', 'build-test-guest.sh')], { stdio: 'inherit' });
  const tag = Math.random().toString(36).slice(2, 8);
  const root = join('/var/lib/limen/e2e', `${process.pid}-${tag}`);
  // Pools are libvirtd's, shared by every test app: each app names its own.
  const poolPrefix = `limen-e2e${process.pid}${tag}`.slice(0, 30);
  const imageDir = join(root, 'images');
  const vmDir = join(root, 'vms');
  const guest = join(imageDir, KERNEL_IMAGE_NAME);
  mkdirSync(guest, { recursive: true, mode: 0o755 });
  mkdirSync(vmDir, { recursive: true, mode: 0o755 });
  for (const file of ['vmlinuz', 'initrd.img', 'cmdline']) copyFileSync(join(GUEST_DIR, file), join(guest, file));
  return {
    env: {
      IMAGE_DIR: imageDir,
      VM_DIR: vmDir,
      STORAGE_POOL_PREFIX: poolPrefix,
      LIBVIRT_URI,
      LIMEN_VIRT_TYPE: 'qemu',
      HYPERVISOR_ADAPTER: 'libvirt',
    },
    vmDir,
    imageDir,
    pools: [`${poolPrefix}-vms`, `${poolPrefix}-images`],
    cleanup: () => {
      for (const pool of [`${poolPrefix}-vms`, `${poolPrefix}-images`]) {
        virsh('pool-destroy', pool);
        virsh('pool-undefine', pool);
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * A VM's files in its host's VM pool (VM_DIR for the local host), flat and named by its id: its
 * boot disk (the one disk volume when it has one), seed ISO and serial log; `all` lists every file
 * of the VM there.
 */
export function vmFiles(vmDir: string, vmId: string): { disk: string; seed: string; serialLog: string; all: string[] } {
  const all = existsSync(vmDir)
    ? readdirSync(vmDir)
        .filter((name) => name.startsWith(`${vmId}-`))
        .sort()
    : [];
  const disks = all.filter((name) => name.startsWith(`${vmId}-disk-`));
  return {
    disk: join(vmDir, disks.length === 1 ? disks[0] : `${vmId}-disk-(${disks.length} disks)`),
    seed: join(vmDir, `${vmId}-seed.iso`),
    serialLog: join(vmDir, `${vmId}-serial.log`),
    all,
  };
}

export function virsh(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('virsh', ['-c', LIBVIRT_URI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Where `libvirtd -d` (scripts/setup-host.sh) writes its pid; test/reliability reads it too. */
const LIBVIRTD_PIDFILE = '/run/libvirtd.pid';

function runningLibvirtd(): number | undefined {
  try {
    const pid = Number(readFileSync(LIBVIRTD_PIDFILE, 'utf8').trim());
    return pid > 0 && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'libvirtd' ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Restarts this machine's libvirtd (SIGTERM to the pid in its pid file, then `libvirtd -d`) and
 * waits until `virsh version` answers again; returns how long it took. Domains that still run keep
 * running. Every test sharing this libvirtd sees the outage: call it once per suite at most.
 */
export async function restartLibvirtd(): Promise<number> {
  const started = Date.now();
  const pid = runningLibvirtd();
  if (!pid) throw new Error(`no running libvirtd in ${LIBVIRTD_PIDFILE}`);
  process.kill(pid, 'SIGTERM');
  while (existsSync(`/proc/${pid}`)) {
    if (Date.now() - started > 30_000) throw new Error(`libvirtd (pid ${pid}) did not exit on SIGTERM`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const daemon = spawnSync('libvirtd', ['-d'], { encoding: 'utf8', timeout: 30_000 });
  if (daemon.status !== 0 && !runningLibvirtd()) throw new Error(`libvirtd -d failed: ${daemon.stderr}`);
  while (virsh('version').status !== 0) {
    if (Date.now() - started > 120_000) throw new Error('libvirtd did not answer `virsh version` within 120 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - started;
}

export function domainExists(vmId: string): boolean {
  return virsh('dominfo', `limen-${vmId}`).status === 0;
}

export interface SseEvent {
  id?: string;
  type: string;
  data: Record<string, unknown>;
  receivedAt: number;
}

/** A minimal SSE client over node:http: collects events (only `vmId`'s, when given) until closed. */
export function openEventStream(
  baseUrl: string,
  token: string,
  lastEventId?: string,
  vmId?: string,
): Promise<{
  events: SseEvent[];
  close: () => void;
  waitFor: (pred: (e: SseEvent) => boolean, timeoutMs: number) => Promise<SseEvent>;
  ended: Promise<number>;
}> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    const waiters: Array<{ pred: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }> = [];
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'text/event-stream' };
    if (lastEventId) headers['last-event-id'] = lastEventId;
    const query = vmId === undefined ? '' : `?${new URLSearchParams({ vmId })}`;
    const req = httpRequest(`${baseUrl}/api/v1/events${query}`, { headers }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE status ${res.statusCode}`));
      let buffer = '';
      // When the server ended the stream (or the connection dropped).
      const ended = new Promise<number>((done) => res.once('close', () => done(Date.now())));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: SseEvent = { type: 'message', data: {}, receivedAt: Date.now() };
          for (const line of block.split('\n')) {
            const [field, ...rest] = line.split(':');
            const value = rest.join(':').replace(/^ /, '');
            if (field === 'id') event.id = value;
            else if (field === 'event') event.type = value;
            else if (field === 'data') event.data = JSON.parse(value);
          }
          events.push(event);
          for (const waiter of [...waiters]) {
            if (waiter.pred(event)) {
              waiters.splice(waiters.indexOf(waiter), 1);
              waiter.resolve(event);
            }
          }
        }
      });
      resolve({
        events,
        ended,
        close: () => req.destroy(),
        waitFor: (pred, timeoutMs) =>
          new Promise((ok, fail) => {
            const seen = events.find(pred);
            if (seen) return ok(seen);
            const timer = setTimeout(
              () =>
                fail(
                  new Error(`no matching SSE event within ${timeoutMs} ms; got ${events.map((e) => e.type).join(',')}`),
                ),
              timeoutMs,
            );
            waiters.push({ pred, resolve: (e) => (clearTimeout(timer), ok(e)) });
          }),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * What a VM pool folder holds, by owner: a VM's files lie flat in it, each named after its VM's
 * id first (`<vmId>-disk-<diskId>.qcow2`, `<vmId>-seed.iso`, `<vmId>-serial.log`); any other
 * entry is listed as it is. Sorted, each once.
 */
export function poolEntriesByVm(dir: string): string[] {
  const entries = existsSync(dir) ? readdirSync(dir) : [];
  const owner = (entry: string) => (/^[0-9a-f-]{36}-/.test(entry) ? entry.slice(0, 36) : entry);
  return [...new Set(entries.map(owner))].sort();
}
