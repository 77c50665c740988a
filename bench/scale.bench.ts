/**
 * Benchmark (not a test): how LIMEN's costs grow with the fleet (issue 19 point 3). Each curve
 * prints one JSON line per point; docs/benchmarks.md draws them as tables (bench/lib/report.ts).
 *
 *   - list:      VM list p50/p99 for a user and an admin at 1k, 10k, 100k VMs (bench/scale/list-curve.ts)
 *   - reconcile: one full reconcile sweep, real libvirtd at 100/500/1,000 defined domains and the
 *                in-memory hypervisor at 10,000 (bench/scale/reconcile-curve.ts)
 *   - sse:       event fan-out to 1, 100, 1,000 SSE subscribers (bench/scale/sse-curve.ts)
 *   - pipeline:  1,000 VM creates placed on 50 in-memory hosts (bench/scale/pipeline-curve.ts)
 *   - replicas:  list throughput on 3 replicas vs one, and leader failover (bench/scale/replicas-curve.ts)
 *
 * Real PostgreSQL (BENCH_DATABASE_URL / TEST_DATABASE_URL / postgres://root@127.0.0.1:5432/postgres):
 * every curve makes its own database and drops it. Needs `npm run build` and libvirtd.
 * SCALE_SMOKE=1 runs tiny sizes (a check that the code works, not figures);
 * SCALE_CURVES=list,sse runs only those curves. Everything created (databases, domains, api
 * processes, folders) is removed at the end, also on failure.
 *
 *   npm run bench -- scale
 *   SCALE_SMOKE=1 npx ts-node --transpile-only bench/scale.bench.ts
 */
import 'tsconfig-paths/register';
import { log, runCleanups, SMOKE } from './scale/common';
import { listCurve } from './scale/list-curve';
import { pipelineCurve } from './scale/pipeline-curve';
import { reconcileCurve } from './scale/reconcile-curve';
import { replicasCurve } from './scale/replicas-curve';
import { sseCurve } from './scale/sse-curve';

const CURVES: Record<string, () => Promise<void>> = {
  list: listCurve,
  reconcile: reconcileCurve,
  sse: sseCurve,
  pipeline: pipelineCurve,
  replicas: replicasCurve,
};

async function main(): Promise<void> {
  const wanted = (process.env.SCALE_CURVES ?? Object.keys(CURVES).join(',')).split(',').map((c) => c.trim());
  const unknown = wanted.filter((c) => !CURVES[c]);
  if (unknown.length) throw new Error(`unknown SCALE_CURVES: ${unknown.join(', ')}`);
  const failed: string[] = [];
  for (const name of wanted) {
    const started = Date.now();
    log(`${name}${SMOKE ? ' (smoke sizes)' : ''}`);
    try {
      await CURVES[name]();
    } catch (error) {
      failed.push(name);
      log(`${name} failed: ${(error as Error).stack}`);
    } finally {
      await runCleanups();
    }
    log(`${name}: ${Math.round((Date.now() - started) / 1000)} s`);
  }
  if (failed.length) throw new Error(`curves failed: ${failed.join(', ')}`);
}

main().then(
  () => process.exit(0),
  async (error) => {
    await runCleanups();
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  },
);
