import { type components, unwrap } from '@limen/sdk';
import type { Command } from 'commander';
import type { Context } from '../context';
import { settle, waitOptions, type WaitFlags } from '../operation';
import { allPages, findImage, findVm, parseInteger } from '../resolve';
import { registerConsole } from './vm-console';
import { registerSsh } from './vm-ssh';

type Vm = components['schemas']['VmDto'];

const VM_COLUMNS = [
  { header: 'ID', value: (vm: Vm) => vm.id },
  { header: 'NAME', value: (vm: Vm) => vm.name },
  { header: 'STATE', value: (vm: Vm) => vm.state },
  { header: 'VCPUS', value: (vm: Vm) => vm.vcpus },
  { header: 'MEMORY', value: (vm: Vm) => `${vm.memoryMiB} MiB` },
  { header: 'DISK', value: (vm: Vm) => `${vm.diskGiB} GiB` },
  { header: 'ADDRESSES', value: (vm: Vm) => vm.addresses.map((a) => a.ip) },
];
const VM_FIELDS = [
  'id',
  'name',
  'state',
  'stateReason',
  'description',
  'vcpus',
  'memoryMiB',
  'diskGiB',
  'imageId',
  'hostId',
  'guestAgent',
  'addresses',
  'autostart',
  'createdAt',
];

interface CreateFlags extends WaitFlags {
  image: string;
  vcpus: number;
  memory: number;
  disk: number;
  description?: string;
  sshKey: string[];
  start: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerVm(program: Command, context: Context): void {
  const vm = program.command('vm').description('virtual machines');

  vm.command('list')
    .description('your VMs (admins: everyone’s)')
    .option('--state <state>', 'only VMs in this state')
    .action(async (flags: { state?: Vm['state'] }) => {
      const { client, output } = context.session();
      const vms = await allPages((cursor) =>
        client.GET('/api/v1/vms', { params: { query: { limit: 500, cursor, state: flags.state } } }),
      );
      output.list(vms, VM_COLUMNS);
    });

  vm.command('show <vm>')
    .description('one VM, by id or name')
    .action(async (name: string) => {
      const { client, output } = context.session();
      output.object((await findVm(client, name)) as unknown as Record<string, unknown>, VM_FIELDS);
    });

  registerCreate(vm, context);
  registerActions(vm, context);
  registerConsole(vm, context);
  registerSsh(vm, context);
}

function registerCreate(vm: Command, context: Context): void {
  waitOptions(
    vm
      .command('create <name>')
      .description('create a VM from an image and (by default) start it; waits until it runs')
      .requiredOption('-i, --image <image>', 'the image to boot (name or id; see `limen image list`)')
      .option('--vcpus <n>', 'virtual CPUs', parseInteger('--vcpus', 1, 256), 1)
      .option('--memory <MiB>', 'memory in MiB', parseInteger('--memory', 16, 4_194_304), 512)
      .option('--disk <GiB>', 'boot disk in GiB', parseInteger('--disk', 1, 65_536), 10)
      .option('--description <text>', 'a description')
      .option('--ssh-key <id>', 'an SSH key id to install (repeatable; see /api/v1/ssh-keys)', collect, [])
      .option('--no-start', 'create it stopped'),
  ).action(async (name: string, flags: CreateFlags) => {
    const session = context.session();
    const { client, output } = session;
    const image = await findImage(client, flags.image);
    const accepted = await unwrap(
      client.POST('/api/v1/vms', {
        params: { header: { 'Idempotency-Key': crypto.randomUUID() } },
        body: {
          name,
          imageId: image.id,
          vcpus: flags.vcpus,
          memoryMiB: flags.memory,
          diskGiB: flags.disk,
          start: flags.start,
          ...(flags.description ? { description: flags.description } : {}),
          ...(flags.sshKey.length ? { sshKeyIds: flags.sshKey } : {}),
        },
      }),
    );
    const operation = await settle(session, accepted.operation, flags);
    const fresh = flags.wait
      ? await unwrap(client.GET('/api/v1/vms/{id}', { params: { path: { id: accepted.vm.id } } }))
      : accepted.vm;
    output.object(fresh as unknown as Record<string, unknown>, VM_FIELDS, { vm: fresh, operation });
  });
}

function registerActions(vm: Command, context: Context): void {
  const act = async (name: string, flags: WaitFlags, body: components['schemas']['VmActionDto']) => {
    const session = context.session();
    const target = await findVm(session.client, name);
    const accepted = await unwrap(
      session.client.POST('/api/v1/vms/{id}/actions', {
        params: { path: { id: target.id }, header: { 'Idempotency-Key': crypto.randomUUID() } },
        body,
      }),
    );
    const operation = await settle(session, accepted.operation, flags);
    const fresh = flags.wait
      ? await unwrap(session.client.GET('/api/v1/vms/{id}', { params: { path: { id: target.id } } }))
      : accepted.vm;
    session.output.message(`${fresh.name}: ${fresh.state}`, { vm: fresh, operation });
  };

  waitOptions(vm.command('start <vm>').description('start a stopped VM')).action((name: string, flags: WaitFlags) =>
    act(name, flags, { action: 'start' }),
  );
  waitOptions(
    vm
      .command('stop <vm>')
      .description('power a VM off at once (--graceful: ask the guest to shut down first)')
      .option('--graceful', 'ACPI shutdown; power off after --grace seconds if the guest has not stopped')
      .option('--grace <seconds>', 'how long the guest gets with --graceful', parseInteger('--grace', 1, 3600), 60),
  ).action((name: string, flags: WaitFlags & { graceful?: boolean; grace: number }) =>
    act(
      name,
      flags,
      flags.graceful ? { action: 'shutdown', timeoutSeconds: flags.grace, force: true } : { action: 'stop' },
    ),
  );
  waitOptions(vm.command('reset <vm>').description('hard-reset a running VM (as the reset button)')).action(
    (name: string, flags: WaitFlags) => act(name, flags, { action: 'reset' }),
  );

  waitOptions(vm.command('delete <vm>').description('delete a VM, its disks and snapshots')).action(
    async (name: string, flags: WaitFlags) => {
      const session = context.session();
      const target = await findVm(session.client, name);
      const accepted = await unwrap(
        session.client.DELETE('/api/v1/vms/{id}', {
          params: { path: { id: target.id }, header: { 'Idempotency-Key': crypto.randomUUID() } },
        }),
      );
      const operation = await settle(session, accepted.operation, flags);
      session.output.message(`deleted ${target.name}`, { vm: { id: target.id, name: target.name }, operation });
    },
  );
}
