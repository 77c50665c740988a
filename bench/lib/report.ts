/**
 * Turns benchmark lines into docs/benchmarks.md and docs/benchmarks.svg.
 *
 * A line's `target` means different things per benchmark (a ratio to reach, a ratio not to
 * exceed, an absolute bound on the value), so each benchmark name maps to one rule here.
 */
export interface BenchResult {
  bench: string;
  value: number;
  unit: string;
  baseline: number | null;
  ratio: number | null;
  target: number | null;
  /** The bench/ file that printed the line. */
  file: string;
}

const round = (n: number) => Math.round(n * 1000) / 1000;

/**
 * Prints a benchmark's one JSON line on stdout, where bench/run.ts collects it. `ratio` is
 * value / baseline unless the benchmark defines it otherwise (see RULES).
 */
export function printResult(
  bench: string,
  value: number,
  unit: string,
  baseline: number | null,
  target: number | null,
  ratio = baseline === null ? null : value / baseline,
): void {
  const line: Omit<BenchResult, 'file'> = {
    bench,
    value: round(value),
    unit,
    baseline: baseline === null ? null : round(baseline),
    ratio: ratio === null ? null : round(ratio),
    target,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

interface TargetRule {
  /** Which field the target bounds. */
  on: 'ratio' | 'value';
  better: 'lower' | 'higher';
  /** What the baseline is, for the table. */
  baseline: string;
}

const RULES: Array<[RegExp, TargetRule]> = [
  [
    /^virsh-transport/,
    { on: 'ratio', better: 'higher', baseline: 'one virsh process per command (ratio = baseline / value)' },
  ],
  [/^vm-start-overhead/, { on: 'ratio', better: 'lower', baseline: 'raw `virsh start` of an identical domain' }],
  [
    /^reachability/,
    { on: 'ratio', better: 'lower', baseline: 'raw virsh script booting the same image, same SSH wait' },
  ],
  [/^bulk-create/, { on: 'ratio', better: 'lower', baseline: 'raw sequential virsh script' }],
  [
    /^disk-create/,
    { on: 'ratio', better: 'lower', baseline: 'raw `virsh vol-create-as` on the same remote host (qemu+tcp)' },
  ],
  [
    /^image-upload/,
    { on: 'ratio', better: 'lower', baseline: 'raw `virsh vol-create-as` + `vol-upload` of the same image file' },
  ],
  [
    /^event-latency-added/,
    {
      on: 'value',
      better: 'lower',
      baseline: 'libvirt’s own `virsh event` after the destroy (ratio = api / raw, end to end)',
    },
  ],
  [
    /^backup-throughput/,
    { on: 'ratio', better: 'higher', baseline: '`qemu-img convert -c -O qcow2` of the same disk (ratio = api / raw)' },
  ],
  [
    /^restore-throughput/,
    {
      on: 'ratio',
      better: 'higher',
      baseline: '`sha256sum` of the backup file, then a plain copy into the VM folder (ratio = api / raw)',
    },
  ],
  [/^read-throughput-bare-node/, { on: 'ratio', better: 'higher', baseline: 'minimal Nest app (for information)' }],
  [/^read-throughput/, { on: 'ratio', better: 'higher', baseline: 'minimal Nest app, same JSON from memory' }],
  [/^read-p99/, { on: 'value', better: 'lower', baseline: 'minimal Nest app’s p99' }],
  [/^api-rss/, { on: 'value', better: 'lower', baseline: '—' }],
  [/^web-vm-list/, { on: 'ratio', better: 'lower', baseline: 'the raw api calls of the list (GET /vms, all pages)' }],
  [/^agent-rss/, { on: 'value', better: 'lower', baseline: 'the 80 MiB budget' }],
  [/^scale-list-.*-p99/, { on: 'ratio', better: 'lower', baseline: 'p99 at the smallest size' }],
  [
    /^scale-reconcile-.*-per-domain/,
    { on: 'ratio', better: 'lower', baseline: 'per-domain cost at the smallest size' },
  ],
  [/^scale-replicas-list-rps/, { on: 'ratio', better: 'higher', baseline: 'one replica (ratio = scaling factor)' }],
  [/^scale-pipeline-overcommitted/, { on: 'value', better: 'lower', baseline: '—' }],
];

export function ruleFor(bench: string): TargetRule {
  return RULES.find(([pattern]) => pattern.test(bench))?.[1] ?? { on: 'value', better: 'lower', baseline: '—' };
}

/**
 * How much of its target a result uses: 1 is exactly on target, below 1 meets it, above misses.
 * Null for lines without a target (information only).
 */
export function targetUse(result: BenchResult): number | null {
  if (result.target === null) return null;
  const rule = ruleFor(result.bench);
  const measured = rule.on === 'ratio' ? result.ratio : result.value;
  if (measured === null || measured === 0) return null;
  return rule.better === 'lower' ? measured / result.target : result.target / measured;
}

function targetText(result: BenchResult): string {
  if (result.target === null) return 'information';
  const rule = ruleFor(result.bench);
  return `${rule.on} ${rule.better === 'lower' ? '≤' : '≥'} ${result.target}`;
}

function verdict(result: BenchResult): string {
  const use = targetUse(result);
  if (use === null) return '';
  return use <= 1 ? 'met' : '**missed**';
}

const cell = (n: number | null) => (n === null ? '—' : String(n));

export function renderMarkdown(results: BenchResult[], failures: string[], measuredOn: string): string {
  const rows = results
    .filter((r) => !isScale(r))
    .map(
      (r) =>
        `| \`${r.bench}\` | ${cell(r.value)} ${r.unit} | ${cell(r.baseline)} | ${ruleFor(r.bench).baseline} | ${cell(r.ratio)} | ${targetText(r)} | ${verdict(r)} |`,
    );
  return [
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (bench/run.ts); do not edit by hand. -->',
    '',
    `Measured ${measuredOn}. Every line is measured side by side with its baseline in the same run;`,
    'these machines are noisy, so read the ratios. How each benchmark works is in the header comment',
    'of its file in `bench/`.',
    '',
    '| benchmark | value | baseline | baseline is | ratio | target | |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...renderScaleCurves(results.filter(isScale)),
    ...(failures.length ? [`Did not run to the end: ${failures.join(', ')}.`, ''] : []),
    '![Share of each target used (1 = on target; bars past the line miss it)](benchmarks.svg)',
    '',
  ].join('\n');
}

const isScale = (r: BenchResult) => r.bench.startsWith('scale-');

/**
 * bench/scale.bench.ts's curves: one table per curve (list, reconcile, sse, pipeline, replicas),
 * a row per point, the series name without its size and the size (the name's trailing number).
 */
export function renderScaleCurves(results: BenchResult[]): string[] {
  if (!results.length) return [];
  const curves = new Map<string, BenchResult[]>();
  for (const r of results) {
    const curve = r.bench.split('-')[1];
    curves.set(curve, [...(curves.get(curve) ?? []), r]);
  }
  const out = [
    '## Scale curves',
    '',
    'From `bench/scale.bench.ts`: how each cost grows with the fleet (how to read them: docs/operations.md, "Sizing").',
    '',
  ];
  for (const [curve, lines] of curves) {
    out.push(
      `### ${curve}`,
      '',
      '| series | size | value | ratio | ratio is | target | |',
      '|---|---|---|---|---|---|---|',
    );
    for (const r of lines) {
      const [, series, size] = /^scale-(.*?)(?:-(\d+))?$/.exec(r.bench)!;
      out.push(
        `| ${series} | ${size ?? '—'} | ${cell(r.value)} ${r.unit} | ${cell(r.ratio)} | ${ruleFor(r.bench).baseline} | ${targetText(r)} | ${verdict(r)} |`,
      );
    }
    out.push('');
  }
  return out;
}

const escapeXml = (text: string) => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** Horizontal bars: the share of its target each result uses, with the target as a line at 1. */
export function renderChart(results: BenchResult[]): string {
  const bars = results
    .map((r) => ({ r, use: targetUse(r) }))
    .filter((b): b is { r: BenchResult; use: number } => b.use !== null);
  const label = 230;
  const width = 760;
  const plot = width - label - 70;
  const row = 26;
  const top = 40;
  const height = top + bars.length * row + 30;
  const max = Math.max(2, ...bars.map((b) => Math.min(b.use, 4)));
  const x = (use: number) => label + (Math.min(use, max) / max) * plot;
  const body = bars.map(({ r, use }, i) => {
    const y = top + i * row;
    const color = use <= 1 ? '#2e7d32' : '#c62828';
    return [
      `<text x="${label - 8}" y="${y + 16}" text-anchor="end">${escapeXml(r.bench)}</text>`,
      `<rect x="${label}" y="${y + 4}" width="${(x(use) - label).toFixed(1)}" height="${row - 10}" fill="${color}"/>`,
      `<text x="${(x(use) + 6).toFixed(1)}" y="${y + 16}">${use.toFixed(2)}${use > max ? ' ›' : ''}</text>`,
    ].join('');
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Share of target used (≤ 1 meets it; green met, red missed)</text>`,
    ...body,
    `<line x1="${x(1).toFixed(1)}" y1="${top - 4}" x2="${x(1).toFixed(1)}" y2="${height - 24}" stroke="#000" stroke-dasharray="4 3"/>`,
    `<text x="${x(1).toFixed(1)}" y="${height - 10}" text-anchor="middle">target</text>`,
    '</svg>',
    '',
  ].join('\n');
}
