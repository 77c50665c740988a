import { HostMetrics } from '@limen/agent-contract';
import { MetricsSnapshot } from './metrics-snapshot';

const SAMPLE: HostMetrics = {
  sampledAt: '2026-01-01T00:00:00.000Z',
  hostname: 'hv-1',
  uptimeSeconds: 1,
  cpu: { percent: 1, cores: [] },
  load: { one: 0, five: 0, fifteen: 0 },
  memory: { totalBytes: 100, usedBytes: 50, availableBytes: 50, percent: 50 },
  swap: { totalBytes: 0, usedBytes: 0, freeBytes: 0 },
  disks: [],
  network: [],
  vms: [],
};

describe('MetricsSnapshot', () => {
  it('renders each format once and hands every scrape the same result', async () => {
    const snapshot = new MetricsSnapshot(SAMPLE);
    expect(snapshot.json()).toBe(JSON.stringify(SAMPLE));
    expect(snapshot.json()).toBe(snapshot.json());
    const first = snapshot.prometheus();
    expect(snapshot.prometheus()).toBe(first);
    expect(await first).toContain('limen_host_memory_bytes{kind="total"} 100');
  });
});
