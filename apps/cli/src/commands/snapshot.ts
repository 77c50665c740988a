import { type components, unwrap } from '@limen/sdk';
import type { Command } from 'commander';
import type { Context } from '../context';
import { CliError, EXIT } from '../exit-codes';
import { settle, waitOptions, type WaitFlags } from '../operation';
import { allPages, findVm } from '../resolve';
import type { Session } from '../session';

type Snapshot = components['schemas']['SnapshotDto'];

const COLUMNS = [
  { header: 'ID', value: (s: Snapshot) => s.id },
  { header: 'NAME', value: (s: Snapshot) => s.name },
  { header: 'STATE', value: (s: Snapshot) => s.state },
  { header: 'CREATED', value: (s: Snapshot) => s.createdAt },
  { header: 'DESCRIPTION', value: (s: Snapshot) => s.description },
];

async function findSnapshot(session: Session, vmId: string, idOrName: string): Promise<Snapshot> {
  const all = await allPages((cursor) =>
    session.client.GET('/api/v1/vms/{vmId}/snapshots', { params: { path: { vmId }, query: { limit: 500, cursor } } }),
  );
  const found = all.find((s) => s.id === idOrName) ?? all.find((s) => s.name === idOrName);
  if (!found) throw new CliError('NOT_FOUND', `no snapshot ${idOrName}`, EXIT.NOT_FOUND);
  return found;
}

export function registerSnapshot(program: Command, context: Context): void {
  const snapshot = program.command('snapshot').description('snapshots of a VM');

  snapshot
    .command('list <vm>')
    .description('a VM’s snapshots')
    .action(async (vmName: string) => {
      const session = context.session();
      const vm = await findVm(session.client, vmName);
      const all = await allPages((cursor) =>
        session.client.GET('/api/v1/vms/{vmId}/snapshots', {
          params: { path: { vmId: vm.id }, query: { limit: 500, cursor } },
        }),
      );
      session.output.list(all, COLUMNS);
    });

  waitOptions(
    snapshot
      .command('create <vm> <name>')
      .description('take a snapshot')
      .option('--description <text>', 'a description'),
  ).action(async (vmName: string, name: string, flags: WaitFlags & { description?: string }) => {
    const session = context.session();
    const vm = await findVm(session.client, vmName);
    const accepted = await unwrap(
      session.client.POST('/api/v1/vms/{vmId}/snapshots', {
        params: { path: { vmId: vm.id }, header: { 'Idempotency-Key': crypto.randomUUID() } },
        body: { name, ...(flags.description ? { description: flags.description } : {}) },
      }),
    );
    const operation = await settle(session, accepted.operation, flags);
    session.output.message(`snapshot ${name} of ${vm.name}: ${operation.status}`, {
      snapshot: accepted.snapshot,
      operation,
    });
  });

  registerSnapshotChanges(snapshot, context);
}

function registerSnapshotChanges(snapshot: Command, context: Context): void {
  waitOptions(snapshot.command('revert <vm> <snapshot>').description('revert a VM to a snapshot')).action(
    async (vmName: string, snapshotName: string, flags: WaitFlags) => {
      const session = context.session();
      const vm = await findVm(session.client, vmName);
      const target = await findSnapshot(session, vm.id, snapshotName);
      const accepted = await unwrap(
        session.client.POST('/api/v1/vms/{vmId}/snapshots/{snapshotId}/revert', {
          params: { path: { vmId: vm.id, snapshotId: target.id } },
        }),
      );
      const operation = await settle(session, accepted.operation, flags);
      session.output.message(`${vm.name} reverted to ${target.name}: ${operation.status}`, {
        snapshot: target,
        operation,
      });
    },
  );

  waitOptions(snapshot.command('delete <vm> <snapshot>').description('delete a snapshot')).action(
    async (vmName: string, snapshotName: string, flags: WaitFlags) => {
      const session = context.session();
      const vm = await findVm(session.client, vmName);
      const target = await findSnapshot(session, vm.id, snapshotName);
      const accepted = await unwrap(
        session.client.DELETE('/api/v1/vms/{vmId}/snapshots/{snapshotId}', {
          params: { path: { vmId: vm.id, snapshotId: target.id }, header: { 'Idempotency-Key': crypto.randomUUID() } },
        }),
      );
      const operation = await settle(session, accepted.operation, flags);
      session.output.message(`deleted snapshot ${target.name} of ${vm.name}`, { snapshot: target, operation });
    },
  );
}
