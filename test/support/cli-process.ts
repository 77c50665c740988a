import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The built command line, as `npm run build` makes it (package.json "bin" runs the same file). */
export const CLI_MAIN = join(__dirname, '..', '..', 'dist', 'apps', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `limen ARGS` (async: the api under test answers in this very process) with `env` added. */
export function runCli(args: string[], env: Record<string, string>, input?: string): Promise<CliResult> {
  if (!existsSync(CLI_MAIN))
    throw new Error(`${CLI_MAIN} is missing: run \`npm run build\` (or \`npx nest build cli\`)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** The single JSON value `--output json` must print, whatever the exit code. */
export function parseJson(result: CliResult): unknown {
  try {
    return JSON.parse(result.stdout);
  } catch {
    throw new Error(
      `not JSON (exit ${result.code}): ${JSON.stringify(result.stdout)} stderr ${JSON.stringify(result.stderr)}`,
    );
  }
}
