import { createInterface } from 'node:readline';
import { CliError, EXIT } from './exit-codes';

/** Reads one line from stdin when it is not a terminal (`--password-stdin`, a pipe in a script). */
export async function readStdinLine(): Promise<string> {
  return (await readStdinLines(1))[0];
}

/** The first `count` lines of stdin (one reader: a second one would miss what the first buffered); '' for missing ones. */
export async function readStdinLines(count: number): Promise<string[]> {
  const read: string[] = [];
  const lines = createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    read.push(line);
    if (read.length === count) break;
  }
  lines.close();
  while (read.length < count) read.push('');
  return read;
}

/**
 * Asks on the terminal (the prompt on stderr); `hidden` echoes nothing, for passwords and codes.
 * Without a terminal there is no one to ask: a usage error names the flag to use instead.
 */
export async function ask(question: string, hidden: boolean, flag: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) throw new CliError('USAGE', `no terminal to ask on: pass ${flag}`, EXIT.USAGE);
  process.stderr.write(question);
  if (!hidden) return readStdinLine();
  input.setRawMode(true);
  input.resume();
  input.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (error?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003') return done(new CliError('INTERRUPTED', 'interrupted', EXIT.GENERIC));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    input.on('data', onData);
  });
}
