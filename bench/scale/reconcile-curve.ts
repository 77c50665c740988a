/**
 * One full reconcile sweep (VmReconciler.sweep: list the host's domains, compare every VM row,
 * autostart, orphans, stalled deletes) timed in process, at each size:
 *
 *   - a real libvirtd holding SIZES.libvirtDomains defined (never started) domains, made with a
 *     persistent virsh session from minimal XML and named `limen-<id>` with ids that carry this
 *     run's tag (so the finally can undefine every one of them, and only them);
 *   - the in-memory hypervisor (FakeVirtualizationPort) holding SIZES.fakeDomains: what LIMEN's own
 *     code costs per domain when the hypervisor answers at once.
 *
 * Each VM row matches a domain (same id, state stopped = shut off): the steady state, where a sweep
 * writes nothing. The figure is the median of SWEEPS sweeps; the line's ratio is the per-domain
 * cost at that size over the per-domain cost at the smallest size (≤ 1 is linear or better).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DomainSpec } from '@limen/libvirt';
import { buildDomainXml } from '@limen/libvirt/xml/domain-xml-builder';
import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { LIBVIRT_URI, hypervisorSandbox, virsh } from '../../test/support/hypervisor';
import { VmReconciler } from '../../apps/api/src/vms/vm-reconciler';
import { median } from '../lib/api-process';
import { printResult } from '../lib/report';
import { freshDatabase, log, onCleanup, seedVms, SIZES, sleep, withClient } from './common';
import { bootInProcess } from './in-process-app';

const SWEEPS = 3;
/** Per-domain cost at the largest size over the smallest: linear, with room for this machine's noise. */
const TARGET_GROWTH = 1.25;

const RUN_TAG = randomBytes(4).toString('hex');
/** The i-th VM id of this run (a UUID whose first group is the run's tag). */
const vmId = (i: number) => `${RUN_TAG}-0000-4000-8000-${String(i).padStart(12, '0')}`;
const ID_SQL = `('${RUN_TAG}-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid`;

/** The i-th bench domain, as LIMEN defines one (its metadata names the VM); its files are never made: it never starts. */
const domainSpec = (i: number): DomainSpec => ({
  vmId: vmId(i),
  ownerId: vmId(0),
  vcpus: 1,
  memoryMiB: 128,
  disks: [{ path: `/var/lib/limen/scale-bench/${vmId(i)}-disk.qcow2` }],
  vnc: { enabled: false },
  serialLogPath: `/var/lib/limen/scale-bench/${vmId(i)}-serial.log`,
});

/** Feeds commands to one `virsh` process on stdin (≈ 1 ms a command instead of ≈ 20 ms a process). */
function virshSession(commands: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('virsh', ['-c', LIBVIRT_URI], { stdio: ['pipe', 'ignore', 'pipe'] });
    let errors = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`virsh session exited ${code}: ${errors.slice(0, 500)}`)),
    );
    child.stdin!.end(`${commands.join('\n')}\nquit\n`);
  });
}

const benchDomains = () =>
  virsh('list', '--all', '--name')
    .stdout.split('\n')
    .map((name) => name.trim())
    .filter((name) => name.startsWith(`limen-${RUN_TAG}-`));

async function defineDomains(from: number, to: number): Promise<void> {
  const dir = mkdtempSync('/tmp/limen-scale-xml-');
  try {
    const commands: string[] = [];
    for (let i = from; i <= to; i++) {
      const file = join(dir, `${i}.xml`);
      writeFileSync(file, buildDomainXml(domainSpec(i), 'qemu'));
      commands.push(`define ${file}`);
    }
    await virshSession(commands);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Median duration (ms) of SWEEPS full sweeps; a sweep already running (the one at boot) is waited out. */
async function timeSweeps(reconciler: VmReconciler): Promise<number> {
  const durations: number[] = [];
  while (durations.length < SWEEPS) {
    const started = performance.now();
    if (await reconciler.sweep()) durations.push(performance.now() - started);
    else await sleep(100);
  }
  return median(durations);
}

async function sweepCurve(
  label: string,
  sizes: number[],
  reconciler: VmReconciler,
  url: string,
  define: (from: number, to: number) => Promise<void>,
): Promise<void> {
  const ownerId: string = await withClient(
    url,
    async (db) => (await db.query(`SELECT id FROM users WHERE username = 'admin'`)).rows[0].id,
  );
  let defined = 0;
  let firstPerDomain = 0;
  for (const size of sizes) {
    await define(defined + 1, size);
    await seedVms(url, { from: defined + 1, count: size - defined, ownerIds: [ownerId], idSql: ID_SQL });
    defined = size;
    const ms = await timeSweeps(reconciler);
    const perDomain = ms / size;
    firstPerDomain ||= perDomain;
    const states = await withClient(
      url,
      async (db) => (await db.query(`SELECT state, count(*)::int AS n FROM vms GROUP BY state`)).rows,
    );
    log(
      `reconcile ${label} ${size} domains: ${ms.toFixed(0)} ms (${perDomain.toFixed(2)} ms/domain); rows ${JSON.stringify(states)}`,
    );
    printResult(`scale-reconcile-${label}-sweep-${size}`, ms, 'ms', null, null);
    printResult(
      `scale-reconcile-${label}-per-domain-${size}`,
      perDomain,
      'ms',
      firstPerDomain,
      size === sizes.at(-1) ? TARGET_GROWTH : null,
    );
  }
}

export async function reconcileCurve(): Promise<void> {
  // Real libvirtd.
  onCleanup('bench domains', async () => {
    const names = benchDomains();
    if (names.length) await virshSession(names.map((name) => `undefine ${name}`));
    log(`undefined ${names.length} bench domains`);
  });
  const sandbox = hypervisorSandbox();
  onCleanup('hypervisor sandbox', () => sandbox.cleanup());
  const url = await freshDatabase();
  const { app } = await bootInProcess({ env: { ...sandbox.env, DATABASE_URL: url } });
  await sweepCurve('libvirt', SIZES.libvirtDomains, app.get(VmReconciler), url, defineDomains);

  // The in-memory hypervisor: domains defined before the app starts, so their `defined` events go unheard.
  const fake = new FakeVirtualizationPort();
  const fakeUrl = await freshDatabase();
  const { app: fakeApp } = await bootInProcess({ env: { ...sandbox.env, DATABASE_URL: fakeUrl }, localPort: fake });
  const defineFake = async (from: number, to: number) => {
    for (let i = from; i <= to; i++) await fake.defineDomain(domainSpec(i));
  };
  await sweepCurve('fake', SIZES.fakeDomains, fakeApp.get(VmReconciler), fakeUrl, defineFake);
}
