export type OutputFormat = 'json' | 'table';

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.map(cell).join(',') || '-';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** What commands print: JSON (exactly one value, always valid) or human tables on stdout. */
export class Output {
  constructor(
    readonly format: OutputFormat,
    private readonly out: (text: string) => void = (text) => process.stdout.write(text),
  ) {}

  get json(): boolean {
    return this.format === 'json';
  }

  /** A list: a JSON array, or a table with these columns. */
  list<T>(rows: T[], columns: Column<T>[]): void {
    if (this.json) return this.out(`${JSON.stringify(rows, null, 2)}\n`);
    const table = [columns.map((c) => c.header), ...rows.map((row) => columns.map((c) => cell(c.value(row))))];
    const widths = columns.map((_, i) => Math.max(...table.map((line) => line[i].length)));
    for (const line of table)
      this.out(
        `${line
          .map((text, i) => text.padEnd(widths[i]))
          .join('  ')
          .trimEnd()}\n`,
      );
  }

  /** One object: JSON as is, or `key  value` lines for the given fields (all when omitted). */
  object(value: Record<string, unknown>, fields?: string[], json: unknown = value): void {
    if (this.json) return this.out(`${JSON.stringify(json, null, 2)}\n`);
    const keys = fields ?? Object.keys(value);
    const width = Math.max(...keys.map((k) => k.length));
    for (const key of keys) this.out(`${key.padEnd(width)}  ${cell(value[key])}\n`);
  }

  /** A short human message; in JSON mode the given value instead. */
  message(text: string, json: unknown): void {
    this.out(this.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`);
  }

  problem(problem: Record<string, unknown>): void {
    if (this.json) return this.out(`${JSON.stringify(problem, null, 2)}\n`);
    const code = problem.code ? `${String(problem.code)}: ` : '';
    const id = problem.requestId ? ` (request ${String(problem.requestId)})` : '';
    process.stderr.write(`limen: ${code}${String(problem.detail ?? problem.title ?? 'error')}${id}\n`);
  }
}

/** Progress and notes for people: stderr, so stdout stays parseable; silent in JSON mode. */
export function note(output: Output, text: string): void {
  if (!output.json) process.stderr.write(`${text}\n`);
}
