import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  truncateSync,
  unlinkSync,
  watch,
} from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { KERNEL_IMAGE_NAME, LIBVIRT_URI, openEventStream, poolEntriesByVm } from '../support/hypervisor';
import { ADMIN, createUser, login, startTestApp, TestApp } from '../support/test-app';

/**
 * Hypervisor faults, really injected on the shared host:
 *  - libvirtd SIGKILLed while a create is inside a hypervisor call, then started again;
 *  - a VM's QEMU process SIGKILLed, with an alert rule on vm.crashed;
 *  - VM_DIR (a small tmpfs) full while a create writes the VM's disk, then its seed ISO.
 * Only this file may stop libvirtd. Every outage ends in a finally: libvirtd is started again
 * and the test waits until `virsh version` answers, even when an assertion failed.
 */
jest.setTimeout(300_000);

/** libvirtd writes a domain's persistent definition here during `virsh define`. */
const LIBVIRT_CONFIG_DIR = '/etc/libvirt/qemu';
const LIBVIRTD_PIDFILE = '/run/libvirtd.pid';
const VM_DIR_SIZE = 16 * 1024 * 1024;
/** A fresh 1 GiB qcow2 takes 196,624 bytes; a NoCloud seed ISO about 370 KiB (measured here). */
const ROOM_FOR_DISK_NOT_SEED = 256 * 1024;
const EVAL_INTERVAL_SECONDS = 1;
const SPEC = { vcpus: 1, memoryMiB: 128, diskGiB: 1 };
const DISK_IMAGE_NAME = 'blank-disk';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program without blocking the event loop (the api under test runs in this process). */
function run(file: string, args: string[], timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const virsh = (...args: string[]) => run('virsh', ['-c', LIBVIRT_URI, ...args]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await sleep(everyMs);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`,
  );
}

/** The promise's value, or a failure after `ms` (without a timer left behind to hold the process). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>(
        (_, reject) =>
          (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Alive and not a zombie (a SIGKILLed daemon whose parent is gone may stay a zombie here). */
function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The running libvirtd's pid, from its pid file (checked against /proc, since a killed daemon leaves the file). */
function libvirtdPid(): number | undefined {
  try {
    const pid = Number(readFileSync(LIBVIRTD_PIDFILE, 'utf8').trim());
    if (pid > 0 && commandOf(pid) === 'libvirtd' && processAlive(pid)) return pid;
  } catch {
    // no pid file: not running
  }
  return undefined;
}

async function hypervisorAnswers(): Promise<boolean> {
  return (await virsh('version')).code === 0;
}

/**
 * Makes sure libvirtd runs (resumed if stopped, started if gone) and answers. A restart takes
 * about a second once QEMU's capabilities are cached (see scripts/setup-host.sh on /dev/kvm).
 */
async function ensureLibvirtd(): Promise<number> {
  const started = Date.now();
  const pid = libvirtdPid();
  if (pid) signal(pid, 'SIGCONT');
  else {
    const res = await run('libvirtd', ['-d']);
    if (res.code !== 0 && !libvirtdPid()) throw new Error(`libvirtd -d failed: ${res.stderr}`);
  }
  await until('libvirtd to answer `virsh version`', hypervisorAnswers, 240_000, 250);
  return Date.now() - started;
}

/** QEMU's pid for a running LIMEN domain, as libvirt recorded it. */
function qemuPid(vmId: string): number {
  return Number(readFileSync(`/run/libvirt/qemu/limen-${vmId}.pid`, 'utf8').trim());
}

/** VM ids of the LIMEN domains (any state) whose disks live in `vmDir`: this app's domains. */
async function domainsIn(vmDir: string): Promise<string[]> {
  const list = await virsh('list', '--all', '--name');
  if (list.code !== 0) throw new Error(`virsh list failed: ${list.stderr}`);
  const ids: string[] = [];
  for (const name of list.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('limen-'))) {
    const xml = await virsh('dumpxml', name);
    if (xml.code === 0 && (xml.stdout.includes(`'${vmDir}/`) || xml.stdout.includes(`"${vmDir}/`)))
      ids.push(name.slice('limen-'.length));
  }
  return ids.sort();
}

/**
 * Stops libvirtd (SIGSTOP) the moment it writes the persistent definition of `vmId` while a
 * create is in flight, then SIGKILLs it. The create is then inside a hypervisor call (the
 * define, or the domain read that follows it) and its domain is defined for libvirtd's next
 * start: the orphan the reconciler must remove. Other helpers' defines only pause libvirtd for
 * the few milliseconds it takes to see the file is not ours.
 */
function killLibvirtdWhenDefined(vmId: Promise<string>): {
  killed: Promise<{ pid: number; at: number }>;
  close: () => void;
} {
  let done = false;
  let known: string | undefined;
  void vmId.then((id) => (known = id));
  let resolveKilled!: (value: { pid: number; at: number }) => void;
  let rejectKilled!: (error: Error) => void;
  const killed = new Promise<{ pid: number; at: number }>(
    (resolve, reject) => ((resolveKilled = resolve), (rejectKilled = reject)),
  );
  const watcher = watch(LIBVIRT_CONFIG_DIR, (_event, filename) => {
    const match = /^limen-([0-9a-f-]{36})\.xml$/.exec(String(filename ?? ''));
    if (done || !match || !existsSync(join(LIBVIRT_CONFIG_DIR, match[0]))) return;
    if (known !== undefined && match[1] !== known) return;
    const pid = libvirtdPid();
    if (!pid) return;
    signal(pid, 'SIGSTOP');
    const decide = (id: string) => {
      if (done || id !== match[1]) {
        signal(pid, 'SIGCONT');
        return;
      }
      done = true;
      signal(pid, 'SIGKILL');
      resolveKilled({ pid, at: Date.now() });
    };
    if (known !== undefined) decide(known);
    else {
      // Not known yet: the POST's answer is on its way (or it failed, and libvirtd resumes).
      const timer = setTimeout(() => signal(pid, 'SIGCONT'), 5000);
      void vmId.then((id) => (clearTimeout(timer), decide(id)));
    }
  });
  watcher.on('error', (error) => rejectKilled(error));
  return {
    killed,
    close: () => {
      done = true;
      watcher.close();
    },
  };
}

/** Sends a signal; a process that is already gone is not an error here. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** A webhook receiver on loopback. */
function startReceiver(): Promise<{
  server: Server;
  url: string;
  deliveries: Array<{ event: string; alert: { ruleId: string; subject: string | null; state: string } | null }>;
}> {
  const deliveries: Array<{ event: string; alert: { ruleId: string; subject: string | null; state: string } | null }> =
    [];
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      deliveries.push(JSON.parse(raw));
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, deliveries }),
    ),
  );
}

describe('hypervisor faults (reliability: libvirtd, QEMU and VM_DIR really fail)', () => {
  /** VM_DIR: a small tmpfs under /var/lib/limen (QEMU, as libvirt-qemu, must traverse it), mounted before the app starts. */
  const root = join('/var/lib/limen/e2e', `${process.pid}-hvfaults-${randomUUID().slice(0, 8)}`);
  const vmDir = join(root, 'vms');
  let mounted = false;
  let t: TestApp;
  let base: string;
  let admin: { accessToken: string };
  let user: { id: string; accessToken: string };
  let imageId: string;
  let diskImageId: string;

  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
    patch: (path: string) => request(t.http).patch(path).auth(token, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }),
  });
  const api = () => as(user.accessToken);
  const adminApi = () => as(admin.accessToken);

  async function postVm(
    name: string,
    extra: Record<string, unknown> = {},
  ): Promise<{ vmId: string; location: string }> {
    const res = await api()
      .post('/api/v1/vms')
      .send({ name, ...SPEC, imageId, ...extra });
    expect(res.status).toBe(202);
    return { vmId: res.body.vm.id, location: res.headers.location };
  }

  async function waitOp(location: string): Promise<{ status: string; error: { code: string; detail: string } | null }> {
    for (;;) {
      const op = (await api().get(`${location}/wait?timeout=60`).expect(200)).body;
      if (!['pending', 'running'].includes(op.status)) return op;
    }
  }

  async function createRunningVm(name: string): Promise<string> {
    const { vmId, location } = await postVm(name);
    expect(await waitOp(location)).toEqual(expect.objectContaining({ status: 'succeeded', error: null }));
    expect((await api().get(`/api/v1/vms/${vmId}`).expect(200)).body.state).toBe('running');
    return vmId;
  }

  async function vmState(vmId: string): Promise<string> {
    return (await api().get(`/api/v1/vms/${vmId}`).expect(200)).body.state;
  }

  async function deleteVm(vmId: string): Promise<void> {
    const res = await api().delete(`/api/v1/vms/${vmId}`).expect(202);
    expect((await waitOp(res.headers.location)).status).toBe('succeeded');
  }

  async function quotaUsage(): Promise<Record<string, number>> {
    return (await adminApi().get(`/api/v1/users/${user.id}/quota`).expect(200)).body.usage;
  }

  /** What the user's surviving VMs use, as the VM list shows them. */
  async function usageOfListedVms(): Promise<Record<string, number>> {
    const items: Array<{ vcpus: number; memoryMiB: number; diskGiB: number }> = (
      await api().get('/api/v1/vms?limit=500').expect(200)
    ).body.items;
    const sum = (key: 'vcpus' | 'memoryMiB' | 'diskGiB') => items.reduce((total, vm) => total + vm[key], 0);
    return { vms: items.length, vcpus: sum('vcpus'), memoryMiB: sum('memoryMiB'), diskGiB: sum('diskGiB') };
  }

  async function vmRowIds(): Promise<string[]> {
    return ((await t.app.get(DataSource).query(`SELECT id FROM vms`)) as Array<{ id: string }>).map((r) => r.id).sort();
  }

  /** Nothing of LIMEN's on the host that the database does not know: no orphan domain, no orphan file. */
  async function expectNoOrphans(extraFiles: string[] = []): Promise<void> {
    const rows = await vmRowIds();
    expect(await domainsIn(vmDir)).toEqual(rows);
    expect(poolEntriesByVm(vmDir)).toEqual([...rows, ...extraFiles].sort());
  }

  beforeAll(async () => {
    mkdirSync(vmDir, { recursive: true, mode: 0o755 });
    const mount = await run('mount', ['-t', 'tmpfs', '-o', `size=${VM_DIR_SIZE},mode=0755`, 'tmpfs', vmDir]);
    if (mount.code !== 0) throw new Error(`cannot mount a tmpfs on ${vmDir}: ${mount.stderr}`);
    mounted = true;
    await ensureLibvirtd();
    // 1 GiB thin disks on a 16 MiB tmpfs: overcommit storage so creates reach the disk writes this suite breaks.
    t = await startTestApp({
      VM_DIR: vmDir,
      DISK_OVERCOMMIT_PERCENT: '1000000',
      DEFAULT_QUOTA_VMS: '10',
      ALERT_EVAL_INTERVAL_SECONDS: String(EVAL_INTERVAL_SECONDS),
      LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'silent',
    });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    user = await createUser(t.http, admin.accessToken, 'faulty');
    const images = await api().get('/api/v1/images').expect(200);
    imageId = images.body.items.find(
      (i: { name: string; kind: string }) => i.name === KERNEL_IMAGE_NAME && i.kind === 'kernel',
    ).id;
    // cloud-init (a seed ISO) needs a disk image: a small blank one, registered by a rescan.
    const made = await run('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      join(t.data.sandbox.imageDir, `${DISK_IMAGE_NAME}.qcow2`),
      '64M',
    ]);
    if (made.code !== 0) throw new Error(`qemu-img create failed: ${made.stderr}`);
    const rescanned = await adminApi()
      .post('/api/v1/images/rescan')
      .expect((res) => expect(res.status).toBeLessThan(300));
    diskImageId = rescanned.body.items.find(
      (i: { name: string; kind: string }) => i.name === `${DISK_IMAGE_NAME}.qcow2` && i.kind === 'disk',
    ).id;
  });

  afterAll(async () => {
    try {
      // libvirtd first: nothing below works without it, and other test runs share it.
      await ensureLibvirtd();
      if (t) {
        const ours = new Set([
          ...(await vmRowIds().catch(() => [] as string[])),
          ...(await domainsIn(vmDir).catch(() => [] as string[])),
        ]);
        for (const id of ours) {
          await virsh('destroy', `limen-${id}`);
          await virsh('undefine', `limen-${id}`, '--snapshots-metadata');
        }
        await t.close();
      }
    } finally {
      if (mounted) await run('umount', [vmDir]);
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('libvirtd killed during a create: the create fails HYPERVISOR_UNAVAILABLE, ready is 503, and once it returns the sweep reconciles with nothing orphaned', async () => {
    const survivor = await createRunningVm('survivor');
    const victim = await createRunningVm('qemu-dies-in-outage');
    const survivorQemu = qemuPid(survivor);

    let resolveId!: (id: string) => void;
    const createdId = new Promise<string>((resolve) => (resolveId = resolve));
    const trap = killLibvirtdWhenDefined(createdId);
    let outageStarted = 0;
    try {
      const res = await api()
        .post('/api/v1/vms')
        .send({ name: 'caught-in-the-kill', ...SPEC, imageId });
      expect(res.status).toBe(202);
      const doomed: string = res.body.vm.id;
      resolveId(doomed);
      const killed = await within(trap.killed, 60_000, 'the create to define its domain');
      outageStarted = killed.at;
      await until('libvirtd to be gone', async () => !processAlive(killed.pid), 10_000, 20);

      const op = await waitOp(res.headers.location);
      process.stdout.write(
        `[hypervisor-faults] create failed ${Date.now() - killed.at} ms after libvirtd was killed: ${JSON.stringify(op.error)}\n`,
      );
      expect(op.status).toBe('failed');
      expect(op.error?.code).toBe('HYPERVISOR_UNAVAILABLE');
      // A failed create removes its VM and releases its quota at once, even while libvirtd is down.
      expect((await api().get(`/api/v1/vms/${doomed}`)).status).toBe(404);
      // Its volumes cannot go while libvirtd is down (they are removed through the pool): the sweep
      // removes them with its orphan domain once libvirtd is back (expectNoOrphans below).

      expect(libvirtdPid()).toBeUndefined();
      // The failed create could not undefine its domain: libvirtd will load it again, an orphan.
      const orphanDefinition = join(LIBVIRT_CONFIG_DIR, `limen-${doomed}.xml`);
      expect(existsSync(orphanDefinition)).toBe(true);
      const ready = await request(t.http).get('/health/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.checks?.hypervisor?.status).toBe('down');
      expect(ready.body.checks?.database?.status).toBe('up');

      // QEMU outlives libvirtd. This one dies while nobody watches: no event will ever tell.
      process.kill(qemuPid(victim), 'SIGKILL');
      expect(processAlive(survivorQemu)).toBe(true);

      const restart = await ensureLibvirtd();
      process.stdout.write(
        `[hypervisor-faults] libvirtd answered again ${restart} ms after \`libvirtd -d\` (outage ${Date.now() - outageStarted} ms)\n`,
      );
      outageStarted = 0;

      const returned = Date.now();
      let seen = '';
      const progress: string[] = [];
      await until(
        'the sweep to reconcile',
        async () => {
          const [domains, survivorState, victimState] = await Promise.all([
            domainsIn(vmDir),
            vmState(survivor),
            vmState(victim),
          ]);
          const now = `orphan domain ${domains.includes(doomed) ? 'present' : 'gone'}, survivor ${survivorState}, victim ${victimState}`;
          if (now !== seen) progress.push(`+${Date.now() - returned} ms: ${(seen = now)}`);
          return (
            !domains.includes(doomed) && survivorState === 'running' && ['stopped', 'crashed'].includes(victimState)
          );
        },
        90_000,
        500,
      ).catch((error) => {
        throw new Error(`${(error as Error).message}; seen: ${progress.join(' | ')}`);
      });
      process.stdout.write(`[hypervisor-faults] after libvirtd returned: ${progress.join(' | ')}\n`);
      process.stdout.write(`[hypervisor-faults] reconciled ${Date.now() - returned} ms after libvirtd answered\n`);
      // Undefined by the sweep (nothing else here knows it): the orphan is gone, not just unlisted.
      expect(existsSync(orphanDefinition)).toBe(false);
      // Re-attached, not restarted: the same QEMU process still runs the survivor.
      expect(qemuPid(survivor)).toBe(survivorQemu);
      expect((await virsh('domstate', `limen-${survivor}`)).stdout.trim()).toBe('running');
      expect((await request(t.http).get('/health/ready')).status).toBe(200);

      await expectNoOrphans();
      const usage = await quotaUsage();
      expect(usage).toEqual(
        expect.objectContaining({
          vms: 2,
          vcpus: 2 * SPEC.vcpus,
          memoryMiB: 2 * SPEC.memoryMiB,
          diskGiB: 2 * SPEC.diskGiB,
        }),
      );
      expect(usage).toEqual(expect.objectContaining(await usageOfListedVms()));
    } finally {
      trap.close();
      await ensureLibvirtd();
    }

    for (const vmId of [survivor, victim]) await deleteVm(vmId);
    await expectNoOrphans();
  });

  it('a VM whose QEMU is killed becomes crashed, the event is streamed, and a vm.crashed alert fires (webhook) and stays firing', async () => {
    const receiver = await startReceiver();
    const events = await openEventStream(base, user.accessToken);
    try {
      const channel = (
        await adminApi()
          .post('/api/v1/alert-channels')
          .send({
            name: 'crash hook',
            type: 'webhook',
            url: `${receiver.url}/hook`,
            secret: 'crash-hook-secret-0123456789',
          })
          .expect(201)
      ).body;
      const rule = (
        await adminApi()
          .post('/api/v1/alert-rules')
          .send({
            name: 'vm crashed',
            metric: 'vm.crashed',
            comparator: '>=',
            threshold: 1,
            for: 0,
            severity: 'critical',
          })
          .expect(201)
      ).body;
      const vmId = await createRunningVm('crash-me');
      const pid = qemuPid(vmId);

      const killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      const event = await events.waitFor(
        (e) => e.type === 'vm.state' && e.data.vmId === vmId && e.data.state !== 'running',
        30_000,
      );
      process.stdout.write(
        `[hypervisor-faults] vm.state ${String(event.data.state)} streamed ${event.receivedAt - killedAt} ms after QEMU was killed\n`,
      );
      expect(['crashed', 'stopped']).toContain(event.data.state);
      expect(await vmState(vmId)).toBe('crashed');
      expect((await virsh('domstate', '--reason', `limen-${vmId}`)).stdout.trim()).toBe('shut off (crashed)');

      const firing = await until(
        'the vm.crashed alert to fire',
        async () =>
          (await adminApi().get('/api/v1/alerts?state=firing').expect(200)).body.items.find(
            (a: { ruleId: string; subject: string }) => a.ruleId === rule.id && a.subject === vmId,
          ),
        30_000,
      );
      process.stdout.write(
        `[hypervisor-faults] vm.crashed alert firing ${Date.now() - killedAt} ms after QEMU was killed\n`,
      );
      expect(firing).toEqual(
        expect.objectContaining({ state: 'firing', value: 1, severity: 'critical', metric: 'vm.crashed' }),
      );
      await until(
        'the firing webhook',
        async () =>
          receiver.deliveries.find(
            (d) => d.event === 'firing' && d.alert?.ruleId === rule.id && d.alert?.subject === vmId,
          ),
        10_000,
        50,
      );

      // Sweeps come and go (every 2 s): a crashed domain is shut off, but the VM stays crashed and the alert open.
      // (Under load the host monitor may flap the VM to `unknown` for a moment, which resolves and re-opens
      // the alert; what must never happen is a `stopped`.)
      await sleep(5000);
      const laterStates = events.events
        .filter((e) => e.type === 'vm.state' && e.data.vmId === vmId && e.receivedAt > event.receivedAt)
        .map((e) => e.data.state);
      expect(laterStates).not.toContain('stopped');
      expect(await vmState(vmId)).toBe('crashed');
      await until(
        'the vm.crashed alert to be firing',
        async () =>
          (await adminApi().get('/api/v1/alerts?state=firing').expect(200)).body.items.some(
            (a: { ruleId: string; subject: string }) => a.ruleId === rule.id && a.subject === vmId,
          ),
        10_000,
      );

      // Started again, it runs and the alert resolves.
      const start = await api().post(`/api/v1/vms/${vmId}/actions`).send({ action: 'start' }).expect(202);
      const deliveredBefore = receiver.deliveries.length;
      expect((await waitOp(start.headers.location)).status).toBe('succeeded');
      expect(await vmState(vmId)).toBe('running');
      await until(
        'the resolved webhook',
        async () =>
          receiver.deliveries
            .slice(deliveredBefore)
            .find((d) => d.event === 'resolved' && d.alert?.ruleId === rule.id && d.alert?.subject === vmId),
        15_000,
        50,
      );
      expect(
        (await adminApi().get('/api/v1/alerts?state=firing').expect(200)).body.items.some(
          (a: { ruleId: string; subject: string }) => a.ruleId === rule.id && a.subject === vmId,
        ),
      ).toBe(false);

      await deleteVm(vmId);
      await adminApi().delete(`/api/v1/alert-rules/${rule.id}`).expect(204);
      await adminApi().delete(`/api/v1/alert-channels/${channel.id}`).expect(204);
      await expectNoOrphans();
    } finally {
      events.close();
      await new Promise((r) => receiver.server.close(r));
    }
  });

  it('VM_DIR full: a create is refused 507 up front, or fails INSUFFICIENT_STORAGE when the seed ISO does not fit, and leaves no VM, no file, no quota used', async () => {
    const filler = join(vmDir, 'filler');
    const free = () => {
      const stats = statfsSync(vmDir);
      return stats.bavail * stats.bsize;
    };
    const before = await quotaUsage();
    try {
      expect((await run('fallocate', ['-l', String(free()), filler])).code).toBe(0);
      expect(free()).toBe(0);

      // No room at all, whatever the overcommit: refused before anything is written.
      const noDisk = await api()
        .post('/api/v1/vms')
        .send({ name: 'no-room-for-disk', ...SPEC, imageId });
      expect({ status: noDisk.status, code: noDisk.body.code }).toEqual({ status: 507, code: 'INSUFFICIENT_STORAGE' });
      expect(
        (await api().get('/api/v1/vms?limit=500').expect(200)).body.items.map((vm: { name: string }) => vm.name),
      ).not.toContain('no-room-for-disk');
      expect(await quotaUsage()).toEqual(before);
      await expectNoOrphans(['filler']);

      // Room for the disk but not for the seed ISO: the disk written first must go too.
      truncateSync(filler, statSync(filler).size - ROOM_FOR_DISK_NOT_SEED);
      expect(free()).toBeGreaterThanOrEqual(200 * 1024);
      expect(free()).toBeLessThan(370 * 1024);
      const noSeed = await postVm('no-room-for-seed', {
        imageId: diskImageId,
        start: false,
        cloudInit: { hostname: 'full' },
      });
      const seedFailed = await waitOp(noSeed.location);
      expect(seedFailed.status).toBe('failed');
      expect(seedFailed.error).toEqual({
        code: 'INSUFFICIENT_STORAGE',
        detail: expect.stringMatching(/VM directory is full/i),
      });
      expect((await api().get(`/api/v1/vms/${noSeed.vmId}`)).status).toBe(404);
      expect(await quotaUsage()).toEqual(before);
      await expectNoOrphans(['filler']);
    } finally {
      if (existsSync(filler)) unlinkSync(filler);
    }

    // With room again, the same create works.
    const fits = await postVm('fits-again', { imageId: diskImageId, start: false, cloudInit: { hostname: 'fits' } });
    expect((await waitOp(fits.location)).status).toBe('succeeded');
    await deleteVm(fits.vmId);
    await expectNoOrphans();
    expect(await quotaUsage()).toEqual(before);
  });
});
