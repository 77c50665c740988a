import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { streamEvents, type LimenEvent } from '@limen/sdk';
import { accessToken, refresh } from '../auth/session';
import type { Vm } from './queries';

/** A VM's fields an event carries (vm.state, vm.updated, vm.addresses), merged where the VM is cached. */
function patchVm(client: QueryClient, vmId: string, patch: Partial<Vm>): void {
  const merge = (vm: Vm): Vm => (vm.id === vmId && (patch.version ?? 0) >= vm.version ? { ...vm, ...patch } : vm);
  client.setQueryData<Vm>(['vm', vmId], (vm) => (vm ? merge(vm) : vm));
  client.setQueryData<Vm[]>(['vms'], (vms) => vms?.map(merge));
}

function apply(client: QueryClient, event: LimenEvent): void {
  const type = event.event;
  // Read loosely: each case takes the fields its event carries.
  const data = event.data as Record<string, unknown> & { vmId?: string };
  const vmId = data.vmId;
  switch (type) {
    case 'vm.state':
    case 'vm.updated': {
      const { state, stateReason, version } = data as Pick<Vm, 'state' | 'stateReason' | 'version'>;
      patchVm(client, vmId!, { state, stateReason, version });
      if (type === 'vm.updated') void client.invalidateQueries({ queryKey: ['vm', vmId] });
      break;
    }
    case 'vm.addresses': {
      const { addresses, guestAgent, os, version } = data as Pick<Vm, 'addresses' | 'guestAgent' | 'os' | 'version'>;
      patchVm(client, vmId!, { addresses, guestAgent, os, version });
      break;
    }
    case 'vm.created':
      client.setQueryData<Vm[]>(['vms'], (vms) =>
        vms && !vms.some((vm) => vm.id === (data as Vm).id) ? [data as Vm, ...vms] : vms,
      );
      break;
    case 'vm.deleted':
      client.setQueryData<Vm[]>(['vms'], (vms) => vms?.filter((vm) => vm.id !== vmId));
      client.removeQueries({ queryKey: ['vm', vmId] });
      break;
    case 'operation.updated':
      void client.invalidateQueries({ queryKey: ['operation', data.id] });
      if (data.kind === 'vm.create' || data.kind === 'vm.delete')
        void client.invalidateQueries({ queryKey: ['quota'] });
      break;
    default:
      // Snapshots, NICs, disks, alerts: refetch what shows them.
      if (type.startsWith('snapshot.')) void client.invalidateQueries({ queryKey: ['snapshots', vmId] });
      else if (type.startsWith('vm.nic.')) void client.invalidateQueries({ queryKey: ['nics', vmId] });
      else if (type.startsWith('vm.disk.')) void client.invalidateQueries({ queryKey: ['disks', vmId] });
      else if (type.startsWith('backup.')) void client.invalidateQueries({ queryKey: ['backups', vmId] });
      else if (type.startsWith('alert.')) void client.invalidateQueries({ queryKey: ['alerts'] });
  }
}

/**
 * Keeps the query cache current from the event stream (the SDK's fetch-based SSE: the bearer
 * token, Last-Event-ID resume, a refreshed token after a 401) until `signal` aborts or the session is gone.
 */
async function follow(client: QueryClient, signal: AbortSignal, setLive: (live: boolean) => void): Promise<void> {
  const events = streamEvents({
    baseUrl: location.origin,
    accessToken,
    signal,
    onUnauthorized: refresh,
    onConnect: () => {
      setLive(true);
      // After a gap the api replays from Last-Event-ID; a refetch also covers events past retention.
      void client.invalidateQueries({ queryKey: ['vms'] });
    },
    onDisconnect: () => setLive(false),
  });
  try {
    for await (const event of events) apply(client, event);
  } catch {
    // The session is gone (the refresh was refused) or the api refused the stream: not live.
  } finally {
    setLive(false);
  }
}

/** Follows the event stream while signed in and keeps the query cache current; returns whether it is connected. */
export function useLiveEvents(): boolean {
  const client = useQueryClient();
  const [live, setLive] = useState(false);
  useEffect(() => {
    const stop = new AbortController();
    void follow(client, stop.signal, setLive);
    return () => stop.abort();
  }, [client]);
  return live;
}
