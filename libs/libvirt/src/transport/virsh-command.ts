import { HypervisorError } from '../errors/hypervisor-error';

/**
 * One virsh command as data. Values are rendered as `--option 'value'`, so a value that looks
 * like a flag (`--destroy`) is still just the value of its option, never an option itself.
 */
export interface VirshCommand {
  /** The virsh command name, e.g. `domstate`. Only internal constants go here. */
  name: string;
  /** Named options with values: `{ domain: 'limen-x' }` renders `--domain 'limen-x'`. */
  options?: Record<string, string | number | undefined>;
  /** Boolean flags: `['live', 'config']` renders `--live --config`. */
  flags?: readonly string[];
  /**
   * Positional values for commands whose arguments have no option name (e.g. `echo`). They are
   * placed after `--`, virsh's end-of-options marker, so none can be parsed as an option.
   */
  rest?: readonly string[];
}

const IDENTIFIER = /^[a-z][a-z0-9-]*$/;

// virsh reads commands through GNU readline, which treats control characters as editing keys
// (Ctrl-U erases the line, TAB completes, newline ends the command). No quoting can neutralise
// them, so they are refused outright. DEL (0x7f) is readline's backspace.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/**
 * Quotes one value for virsh's command tokenizer. Inside single quotes virsh (like sh) gives no
 * character a special meaning, so `;`, `#`, `"`, `\`, `$(...)` and spaces are literal. A single
 * quote itself is written as `'\''`: close, escaped quote, reopen.
 */
export function quoteVirshArg(value: string): string {
  if (CONTROL_CHARACTERS.test(value)) {
    throw new HypervisorError(
      'INVALID_ARGUMENT',
      'virsh arguments cannot contain control characters (newline, tab, escape...)',
    );
  }
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function assertIdentifier(kind: string, value: string): void {
  // Command and option names are code constants; checking them still keeps a programming error
  // from ever becoming an injection.
  if (!IDENTIFIER.test(value)) {
    throw new HypervisorError('INVALID_ARGUMENT', `invalid virsh ${kind} name: ${JSON.stringify(value)}`);
  }
}

/** Renders a command as one line of virsh's interactive syntax. */
export function renderVirshCommand(command: VirshCommand): string {
  assertIdentifier('command', command.name);
  const parts = [command.name];
  for (const [option, value] of Object.entries(command.options ?? {})) {
    if (value === undefined) continue;
    assertIdentifier('option', option);
    parts.push(`--${option}`, quoteVirshArg(String(value)));
  }
  for (const flag of command.flags ?? []) {
    assertIdentifier('flag', flag);
    parts.push(`--${flag}`);
  }
  if (command.rest && command.rest.length > 0) {
    parts.push('--', ...command.rest.map(quoteVirshArg));
  }
  return parts.join(' ');
}

/** argv for a one-shot `virsh -c URI <command>` process; no shell involved, so no quoting. */
export function virshArgv(command: VirshCommand): string[] {
  assertIdentifier('command', command.name);
  const argv = [command.name];
  for (const [option, value] of Object.entries(command.options ?? {})) {
    if (value === undefined) continue;
    assertIdentifier('option', option);
    argv.push(`--${option}`, String(value));
  }
  for (const flag of command.flags ?? []) {
    assertIdentifier('flag', flag);
    argv.push(`--${flag}`);
  }
  if (command.rest && command.rest.length > 0) argv.push('--', ...command.rest);
  return argv;
}
