import { HypervisorError, VirtualizationPort } from '@limen/libvirt';
import { Vm } from './vm.entity';

/** The guest agent did not answer: the copy is taken all the same, as it would be without an agent. */
async function unlessAgentAway(work: Promise<unknown>): Promise<boolean> {
  try {
    await work;
    return true;
  } catch (error) {
    if (!HypervisorError.is(error, 'GUEST_AGENT_UNAVAILABLE')) throw error;
    return false;
  }
}

/**
 * Runs `work` with the guest's filesystems frozen when its agent is connected (consistent on disk,
 * as the guest would see them after a clean sync), thawed again whatever happens. Resolves to
 * whether they were frozen: false when the VM does not run with a connected agent, or the agent
 * did not answer the freeze (the copy is then crash-consistent). Keep `work` short: the guest's
 * writes wait while it runs.
 */
export async function withFrozenFilesystems(
  port: VirtualizationPort,
  vm: Pick<Vm, 'id' | 'guestAgent' | 'state'> | null,
  work: () => Promise<unknown>,
): Promise<boolean> {
  const frozen =
    vm?.state === 'running' && vm.guestAgent === 'connected' && (await unlessAgentAway(port.freezeFilesystems(vm.id)));
  try {
    await work();
  } finally {
    if (frozen) await unlessAgentAway(port.thawFilesystems(vm!.id));
  }
  return frozen;
}

/**
 * Thaws the guest's filesystems in case an interrupted copy (the api killed mid-freeze) left them
 * frozen; thawing a guest that is not frozen changes nothing, and one without an agent is skipped.
 */
export async function thawIfFrozen(
  port: VirtualizationPort,
  vm: Pick<Vm, 'id' | 'guestAgent' | 'state'>,
): Promise<void> {
  if (vm.state === 'running' && vm.guestAgent === 'connected') await unlessAgentAway(port.thawFilesystems(vm.id));
}
