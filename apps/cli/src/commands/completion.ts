import { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes';

/** Every command path ('' for the root) with the words that may follow it: subcommands and options. */
function tree(command: Command, path: string[] = [], out = new Map<string, string[]>()): Map<string, string[]> {
  const words = [
    ...command.commands.map((c) => c.name()),
    ...command.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f)),
  ];
  out.set(path.join(' '), words);
  for (const sub of command.commands) tree(sub, [...path, sub.name()], out);
  return out;
}

/** A bash completion function; zsh loads the same one through bashcompinit. */
export function bashCompletion(program: Command): string {
  const cases = [...tree(program)]
    .map(([path, words]) => `    "${path}") words="${[...words, '--help', '--output', '--api'].join(' ')}" ;;`)
    .join('\n');
  return `# limen completion for bash: eval "$(limen completion bash)"
_limen() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" words="" i w
  case "$prev" in
    --output|-o) COMPREPLY=( $(compgen -W "json table" -- "$cur") ); return ;;
    --api|--image|-i|--name|--token|--username|-u|--description|--timeout|--vcpus|--memory|--disk|--scope|-s|--expires-in-days|--expires-at|--user|--totp|--recovery-code) return ;;
  esac
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      --output|-o|--api) ((i++)) ;;
      -*) ;;
      *) path="\${path:+$path }$w" ;;
    esac
  done
  while :; do
    case "$path" in
${cases}
    *) if [ -z "$path" ] || [ "\${path% *}" = "$path" ]; then words=""; break; fi; path="\${path% *}"; continue ;;
    esac
    break
  done
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -o default -F _limen limen
`;
}

export function registerCompletion(program: Command): void {
  program
    .command('completion <shell>')
    .description('print a shell completion script: eval "$(limen completion bash)" (bash or zsh)')
    .action((shell: string) => {
      if (shell === 'bash') return void process.stdout.write(bashCompletion(program));
      if (shell === 'zsh')
        return void process.stdout.write(
          `# limen completion for zsh: eval "$(limen completion zsh)"\nautoload -U +X bashcompinit && bashcompinit\n${bashCompletion(program)}`,
        );
      throw new CliError('USAGE', `completion is for bash or zsh, not ${JSON.stringify(shell)}`, EXIT.USAGE);
    });
}
