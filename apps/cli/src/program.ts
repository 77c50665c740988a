import { Command, CommanderError, Option } from 'commander';
import { registerAccount } from './commands/account';
import { registerAuth } from './commands/auth';
import { registerCompletion } from './commands/completion';
import { registerImage } from './commands/image';
import { registerSnapshot } from './commands/snapshot';
import { registerToken } from './commands/token';
import { registerVm } from './commands/vm';
import { Context, type GlobalOptions } from './context';
import { CliError, describeError, EXIT, EXIT_CODE_HELP } from './exit-codes';
import { Output, type OutputFormat } from './output';

const HELP_FOOTER = `
Environment:
  LIMEN_API_URL     the api (default: the one last logged in to, else http://127.0.0.1:18443)
  XDG_CONFIG_HOME   credentials go to $XDG_CONFIG_HOME/limen/credentials.json (default ~/.config/limen)

${EXIT_CODE_HELP}

With --output json every command prints exactly one JSON value on stdout, errors included
(a problem object with "code", "detail" and "exitCode"). See docs/api-guide.md, "Command line".`;

export function buildProgram(): Command {
  const program = new Command('limen');
  const context = new Context(() => program.opts<GlobalOptions>());
  program
    .description('the LIMEN command line: VMs, images, snapshots, tokens and your account over the LIMEN api')
    .version(process.env.LIMEN_CLI_VERSION ?? '0.1.0')
    .addOption(new Option('--api <url>', 'the api to talk to (also LIMEN_API_URL)'))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .showHelpAfterError('(limen --help lists the commands and options)')
    .addHelpText('after', HELP_FOOTER)
    .exitOverride();
  registerAuth(program, context);
  registerVm(program, context);
  registerImage(program, context);
  registerSnapshot(program, context);
  registerToken(program, context);
  registerAccount(program, context);
  registerCompletion(program);
  for (const command of allCommands(program)) command.exitOverride();
  return program;
}

function allCommands(command: Command): Command[] {
  return command.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** The --output the user asked for, read before commander parses (a usage error must honour it too). */
export function requestedFormat(argv: string[]): OutputFormat {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = arg === '-o' || arg === '--output' ? argv[i + 1] : /^--output=(.*)$/.exec(arg)?.[1];
    if (value === 'json') return 'json';
  }
  return 'table';
}

/** Runs the command line; resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  const format = requestedFormat(argv.slice(2));
  const program = buildProgram();
  if (format === 'json') program.configureOutput({ writeErr: () => undefined });
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end the same way, with code 0.
      if (error.exitCode === 0) return EXIT.OK;
      const usage = new CliError('USAGE', error.message.replace(/^error: /, ''), EXIT.USAGE, {
        commanderCode: error.code,
      });
      if (format === 'json') new Output(format).problem(describeError(usage).problem);
      return EXIT.USAGE;
    }
    const { problem, exitCode } = describeError(error);
    new Output(format).problem(problem);
    return exitCode;
  }
}
