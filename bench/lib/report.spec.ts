import { BenchResult, renderChart, renderMarkdown, targetUse } from './report';

const line = (bench: string, value: number, baseline: number | null, target: number | null): BenchResult => ({
  bench,
  value,
  unit: 'x',
  baseline,
  ratio: baseline === null ? null : value / baseline,
  target,
  file: 'f',
});

describe('bench report', () => {
  it('reads each target the way its benchmark means it', () => {
    // ratio to reach: 0.25 of the minimal app against ≥ 0.5 uses twice the target
    expect(targetUse(line('read-throughput', 100, 400, 0.5))).toBeCloseTo(2);
    // ratio not to exceed: 0.94 against ≤ 1.15
    expect(targetUse(line('vm-start-overhead', 94, 100, 1.15))).toBeCloseTo(0.94 / 1.15);
    // absolute bound on the value, whatever the baseline
    expect(targetUse(line('read-p99', 50, 10, 100))).toBeCloseTo(0.5);
    // virsh-transport prints ratio = baseline / value (higher is better)
    expect(targetUse({ ...line('virsh-transport', 0.6, 21, 20), ratio: 35 })).toBeCloseTo(20 / 35);
    // the storage benches: a ratio not to exceed, whatever the value in ms
    expect(targetUse(line('image-upload', 1100, 1000, 1.1))).toBeCloseTo(1.1 / 1.1);
    expect(targetUse(line('read-throughput-bare-node', 29000, 3600, null))).toBeNull();
  });

  it('marks met and missed targets in the table and escapes names in the chart', () => {
    const markdown = renderMarkdown([line('read-p99', 50, 10, 100), line('api-rss-load', 320, null, 300)], [], 'today');
    expect(markdown).toMatch(/`read-p99` .*\| met \|/);
    expect(markdown).toMatch(/`api-rss-load` .*\| \*\*missed\*\* \|/);
    const svg = renderChart([line('read-p99<&>', 50, 10, 100)]);
    expect(svg).toContain('read-p99&#60;&#38;&#62;');
    expect(svg).not.toContain('read-p99<');
  });
});
