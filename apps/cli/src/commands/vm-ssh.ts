import { spawn } from 'node:child_process';
import { type components, unwrap } from '@limen/sdk';
import type { Command } from 'commander';
import type { Context } from '../context';
import { CliError, EXIT } from '../exit-codes';
import { findVm } from '../resolve';

type Vm = components['schemas']['VmDto'];

/** The default user of well-known cloud images, guessed from the image's name (--user overrides). */
const CLOUD_USERS: Array<[RegExp, string]> = [
  [/debian/i, 'debian'],
  [/ubuntu/i, 'ubuntu'],
  [/fedora/i, 'fedora'],
  [/alpine/i, 'alpine'],
  [/(rocky|alma|centos|rhel)/i, 'cloud-user'],
];

const WILDCARD = new Set(['0.0.0.0', '::', '']);

export function registerSsh(vm: Command, context: Context): void {
  vm.command('ssh <vm> [command...]')
    .description('run ssh to the VM: through its port forward of guest port 22, else to its address')
    .option(
      '-l, --user <user>',
      'the user to log in as (default: the image’s usual cloud user, else ssh’s own default)',
    )
    .option('-i, --identity <file>', 'the private key to use')
    .option('--ssh-option <option>', 'an extra `ssh -o` option (repeatable)', (v: string, p: string[]) => [...p, v], [])
    .option('--dry-run', 'print the ssh command instead of running it')
    .action(
      async (
        name: string,
        command: string[],
        flags: { user?: string; identity?: string; sshOption: string[]; dryRun?: boolean },
      ) => {
        const session = context.session();
        const { client, output } = session;
        const target = await findVm(client, name);
        const { host, port } = await endpoint(session.api, target, client);
        const user = flags.user ?? (await guessUser(client, target));
        const args = ['-p', String(port)];
        if (flags.identity) args.push('-i', flags.identity);
        for (const option of flags.sshOption) args.push('-o', option);
        args.push(user ? `${user}@${host}` : host, ...command);
        if (flags.dryRun)
          return output.message(['ssh', ...args].join(' '), { command: 'ssh', args, host, port, user: user ?? null });
        const child = spawn('ssh', args, { stdio: 'inherit' });
        const code = await new Promise<number>((resolve, reject) => {
          child.once('error', (error) =>
            reject(new CliError('SSH_FAILED', `cannot run ssh: ${error.message}`, EXIT.GENERIC)),
          );
          child.once('exit', (status, signal) => resolve(status ?? (signal ? 128 : 1)));
        });
        // ssh's own exit status is the command's (255: ssh could not connect).
        process.exitCode = code;
      },
    );
}

async function endpoint(
  api: string,
  vm: Vm,
  client: ReturnType<Context['session']>['client'],
): Promise<{ host: string; port: number }> {
  const forwards = await unwrap(client.GET('/api/v1/vms/{vmId}/port-forwards', { params: { path: { vmId: vm.id } } }));
  const ssh = forwards.items.find((f) => f.guestPort === 22 && f.protocol === 'tcp');
  if (ssh) {
    // A forward bound to every address is reached at the api's host name.
    const host = WILDCARD.has(ssh.hostAddress) ? new URL(api).hostname : ssh.hostAddress;
    return { host, port: ssh.hostPort };
  }
  // A user-mode address is private to the VM: only a forward reaches it.
  const reachable = vm.addresses.filter((a) => a.source !== 'user-mode');
  const address = reachable.find((a) => a.family === 'ipv4') ?? reachable[0];
  if (!address)
    throw new CliError(
      'NO_ROUTE',
      `${vm.name} has no port forward of guest port 22 and no known address`,
      EXIT.CONFLICT,
    );
  return { host: address.ip, port: 22 };
}

async function guessUser(client: ReturnType<Context['session']>['client'], vm: Vm): Promise<string | undefined> {
  const image = await client.GET('/api/v1/images/{id}', { params: { path: { id: vm.imageId } } });
  const imageName = image.data?.name ?? '';
  return CLOUD_USERS.find(([pattern]) => pattern.test(imageName))?.[1];
}
