import { Counter, Gauge, Registry } from 'prom-client';
import { HostMetrics } from '@limen/agent-contract';

export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * Renders one sample in the Prometheus text exposition format. A fresh Registry per render
 * keeps concurrent renders from sharing gauge state, and series of vanished VMs, disks or
 * interfaces from lingering; prom-client escapes label values (quotes, backslashes, newlines).
 */
export async function renderPrometheus(metrics: HostMetrics): Promise<string> {
  const registry = new Registry();
  const gauge: GaugeMaker = (name, help, labelNames = []) =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  addHostSeries(metrics, gauge);
  addDeviceSeries(metrics, gauge, registry);
  addIdentitySeries(metrics, gauge);
  addVmSeries(metrics, gauge);
  return registry.metrics();
}

type GaugeMaker = <L extends string>(name: string, help: string, labelNames?: readonly L[]) => Gauge<L>;

function addHostSeries(metrics: HostMetrics, gauge: GaugeMaker): void {
  gauge('limen_host_cpu_percent', 'Busy share of all CPU cores since the previous sample (0-100).').set(
    metrics.cpu.percent,
  );
  const core = gauge('limen_host_cpu_core_percent', 'Busy share of one CPU core since the previous sample (0-100).', [
    'core',
  ]);
  for (const c of metrics.cpu.cores) core.set({ core: String(c.core) }, c.percent);

  const load = gauge('limen_host_load_average', 'Kernel load average.', ['period']);
  load.set({ period: '1m' }, metrics.load.one);
  load.set({ period: '5m' }, metrics.load.five);
  load.set({ period: '15m' }, metrics.load.fifteen);

  const memory = gauge('limen_host_memory_bytes', 'Host memory; used = total - available.', ['kind']);
  memory.set({ kind: 'total' }, metrics.memory.totalBytes);
  memory.set({ kind: 'used' }, metrics.memory.usedBytes);
  memory.set({ kind: 'available' }, metrics.memory.availableBytes);
  gauge('limen_host_memory_percent', 'Used share of host memory (0-100).').set(metrics.memory.percent);
}

function addDeviceSeries(metrics: HostMetrics, gauge: GaugeMaker, registry: Registry): void {
  const swap = gauge('limen_host_swap_bytes', 'Host swap space.', ['kind']);
  swap.set({ kind: 'total' }, metrics.swap.totalBytes);
  swap.set({ kind: 'used' }, metrics.swap.usedBytes);
  swap.set({ kind: 'free' }, metrics.swap.freeBytes);

  const disk = gauge('limen_host_disk_bytes', 'File system size, used and available space per mount.', [
    'mount',
    'kind',
  ]);
  const diskPercent = gauge('limen_host_disk_percent', 'Used share of a file system (0-100).', ['mount']);
  for (const d of metrics.disks) {
    disk.set({ mount: d.mount, kind: 'size' }, d.sizeBytes);
    disk.set({ mount: d.mount, kind: 'used' }, d.usedBytes);
    disk.set({ mount: d.mount, kind: 'available' }, d.availableBytes);
    diskPercent.set({ mount: d.mount }, d.percent);
  }

  // A counter, because the kernel's byte counts only grow; a fresh counter incremented by the
  // total exposes exactly that total.
  const bytes = new Counter({
    name: 'limen_host_network_bytes_total',
    help: 'Bytes received (rx) and sent (tx) per interface since boot.',
    labelNames: ['iface', 'direction'],
    registers: [registry],
  });
  const rate = gauge(
    'limen_host_network_bytes_per_second',
    'Network throughput per interface since the previous sample.',
    ['iface', 'direction'],
  );
  for (const n of metrics.network) {
    bytes.inc({ iface: n.iface, direction: 'rx' }, n.rxBytes);
    bytes.inc({ iface: n.iface, direction: 'tx' }, n.txBytes);
    if (n.rxBytesPerSecond !== null) rate.set({ iface: n.iface, direction: 'rx' }, n.rxBytesPerSecond);
    if (n.txBytesPerSecond !== null) rate.set({ iface: n.iface, direction: 'tx' }, n.txBytesPerSecond);
  }
}

function addIdentitySeries(metrics: HostMetrics, gauge: GaugeMaker): void {
  gauge('limen_host_uptime_seconds', 'Seconds since the host booted.').set(metrics.uptimeSeconds);
  gauge('limen_host_info', 'Always 1; carries the host name.', ['hostname']).set({ hostname: metrics.hostname }, 1);
}

function addVmSeries(metrics: HostMetrics, gauge: GaugeMaker): void {
  // Only LIMEN VMs: a series keyed by vm_id means nothing for a domain LIMEN did not create.
  const vmCpu = gauge('limen_vm_cpu_percent', "CPU used by a VM's QEMU process, in percent of one core.", [
    'vm_id',
    'domain',
  ]);
  const vmRss = gauge('limen_vm_rss_bytes', "Resident memory of a VM's QEMU process.", ['vm_id', 'domain']);
  for (const vm of metrics.vms) {
    if (vm.vmId === null || vm.domain === null) continue;
    vmCpu.set({ vm_id: vm.vmId, domain: vm.domain }, vm.cpuPercent);
    vmRss.set({ vm_id: vm.vmId, domain: vm.domain }, vm.rssBytes);
  }
}
