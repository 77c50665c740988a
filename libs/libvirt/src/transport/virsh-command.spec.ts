import { HypervisorError } from '../errors/hypervisor-error';
import { quoteVirshArg, renderVirshCommand, virshArgv } from './virsh-command';

/**
 * A model of virsh's tokenizer (vshCommandStringGetArg): blanks and ';' end a token outside
 * quotes, single quotes are literal, backslash escapes outside single quotes. Used to prove
 * that quoting round-trips; the int suite proves the same against real virsh.
 */
function tokenize(line: string): string[][] {
  const commands: string[][] = [[]];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ') i++;
    if (i >= line.length) break;
    if (line[i] === ';') {
      commands.push([]);
      i++;
      continue;
    }
    let token = '';
    let single = false;
    let double = false;
    while (i < line.length) {
      const c = line[i];
      if (!single && !double && (c === ' ' || c === ';')) break;
      if (!double && c === "'") {
        single = !single;
        i++;
        continue;
      }
      if (!single && c === '\\') {
        token += line[i + 1];
        i += 2;
        continue;
      }
      if (!single && c === '"') {
        double = !double;
        i++;
        continue;
      }
      token += c;
      i++;
    }
    commands[commands.length - 1].push(token);
  }
  return commands;
}

const HOSTILE = [
  `it's`,
  `"dq"`,
  `back\\slash`,
  `a;b`,
  `; destroy x`,
  `$(id)`,
  '`id`',
  `--destroy`,
  `#c`,
  ` sp `,
  `✓ 日本`,
  `''`,
  `\\'`,
  ``,
];

describe('virsh quoting', () => {
  it.each(HOSTILE.map((s) => [s]))('round-trips %j as exactly one token of one command', (value) => {
    const line = renderVirshCommand({
      name: 'desc',
      options: { domain: 'limen-1', 'new-desc': value },
      flags: ['config'],
    });
    expect(tokenize(line)).toEqual([['desc', '--domain', 'limen-1', '--new-desc', value, '--config']]);
  });

  it('puts positional values after the end-of-options marker', () => {
    expect(renderVirshCommand({ name: 'echo', rest: ['--all', 'x y'] })).toBe(`echo -- '--all' 'x y'`);
  });

  it.each([['\n'], ['\r'], ['\t'], ['\u0015'], ['\u001b'], ['\u007f'], ['\u0000']])(
    'rejects control character %j',
    (c) => {
      expect(() => quoteVirshArg(`a${c}b`)).toThrow(HypervisorError);
    },
  );

  it('rejects option and command names that are not identifiers', () => {
    expect(() => renderVirshCommand({ name: 'list; destroy' })).toThrow(/invalid virsh command/);
    expect(() => renderVirshCommand({ name: 'desc', options: { 'x y': 'v' } })).toThrow(/invalid virsh option/);
    expect(() => renderVirshCommand({ name: 'desc', flags: ['--x'] })).toThrow(/invalid virsh flag/);
  });

  it('skips undefined options and renders argv for one-shot processes without quoting', () => {
    expect(virshArgv({ name: 'domstate', options: { domain: "it's", reason: undefined }, rest: ['-x'] })).toEqual([
      'domstate',
      '--domain',
      "it's",
      '--',
      '-x',
    ]);
  });
});
