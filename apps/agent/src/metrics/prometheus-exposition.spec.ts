import { HostMetrics } from '@limen/agent-contract';
import { renderPrometheus } from './prometheus-exposition';

const SAMPLE: HostMetrics = {
  sampledAt: '2026-01-01T00:00:00.000Z',
  hostname: 'hv-1',
  uptimeSeconds: 3600,
  cpu: {
    percent: 12.5,
    cores: [
      { core: 0, percent: 10 },
      { core: 1, percent: 15 },
    ],
  },
  load: { one: 0.5, five: 0.25, fifteen: 0.1 },
  memory: { totalBytes: 8_000_000_000, usedBytes: 2_000_000_000, availableBytes: 6_000_000_000, percent: 25 },
  swap: { totalBytes: 1024, usedBytes: 0, freeBytes: 1024 },
  disks: [
    {
      mount: '/mnt/we"ird\\path\nx',
      filesystem: '/dev/vdb',
      type: 'ext4',
      sizeBytes: 100,
      usedBytes: 40,
      availableBytes: 60,
      percent: 40,
    },
  ],
  network: [
    { iface: 'eth0', operstate: 'up', rxBytes: 1000, txBytes: 2000, rxBytesPerSecond: 10.5, txBytesPerSecond: 20 },
    { iface: 'vnet0', operstate: 'up', rxBytes: 5, txBytes: 6, rxBytesPerSecond: null, txBytesPerSecond: null },
  ],
  vms: [
    { domain: 'limen-3f2c9a4e', vmId: '3f2c9a4e', pid: 10, cpuPercent: 150, rssBytes: 300_000_000 },
    { domain: 'win11', vmId: null, pid: 11, cpuPercent: 5, rssBytes: 1 },
  ],
};

describe('renderPrometheus', () => {
  let text: string;
  beforeAll(async () => (text = await renderPrometheus(SAMPLE)));

  it('exposes host series with their values', () => {
    expect(text).toContain('# TYPE limen_host_cpu_percent gauge\nlimen_host_cpu_percent 12.5\n');
    expect(text).toContain('limen_host_cpu_core_percent{core="1"} 15\n');
    expect(text).toContain('limen_host_load_average{period="15m"} 0.1\n');
    expect(text).toContain('limen_host_memory_bytes{kind="total"} 8000000000\n');
    expect(text).toContain('limen_host_memory_bytes{kind="available"} 6000000000\n');
    expect(text).toContain('limen_host_swap_bytes{kind="free"} 1024\n');
    expect(text).toContain('# TYPE limen_host_network_bytes_total counter\n');
    expect(text).toContain('limen_host_network_bytes_total{iface="eth0",direction="tx"} 2000\n');
    expect(text).toContain('limen_host_network_bytes_per_second{iface="eth0",direction="rx"} 10.5\n');
    expect(text).toContain('limen_host_uptime_seconds 3600\n');
    expect(text).toContain('limen_host_info{hostname="hv-1"} 1\n');
  });

  it('escapes quotes, backslashes and newlines in label values', () => {
    expect(text).toContain('limen_host_disk_bytes{mount="/mnt/we\\"ird\\\\path\\nx",kind="used"} 40\n');
    // No raw newline can split a sample line: every line is a comment, blank or a sample.
    for (const line of text.split('\n')) expect(line).toMatch(/^(#.*|[a-z_]+(\{.*\})? -?[\d.e+]+|)$/);
  });

  it('omits rates not yet known and VMs LIMEN does not own', () => {
    expect(text).not.toContain('limen_host_network_bytes_per_second{iface="vnet0"');
    expect(text).toContain('limen_vm_cpu_percent{vm_id="3f2c9a4e",domain="limen-3f2c9a4e"} 150\n');
    expect(text).toContain('limen_vm_rss_bytes{vm_id="3f2c9a4e",domain="limen-3f2c9a4e"} 300000000\n');
    expect(text).not.toContain('win11');
  });
});
