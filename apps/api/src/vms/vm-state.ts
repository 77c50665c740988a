import { HttpStatus } from '@nestjs/common';
import type { DomainInfo, DomainState, ShutoffReason } from '@limen/libvirt';
import { AppException, ErrorCode } from '../common/problem';

/** `unknown`: the VM's host does not answer, so its real state cannot be known. */
export const VM_STATES = [
  'provisioning',
  'stopped',
  'running',
  'paused',
  'crashed',
  'missing',
  'error',
  'deleting',
  'unknown',
] as const;
export type VmState = (typeof VM_STATES)[number];

/** What the user last asked a VM to be (Vm.desiredState): the autostart sweep starts only `running` ones. */
export const DESIRED_STATES = ['running', 'stopped'] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];

export const VM_ACTIONS = ['start', 'shutdown', 'stop', 'reboot', 'reset', 'suspend', 'resume'] as const;
export type VmAction = (typeof VM_ACTIONS)[number];

/** The desired state an action asks for; undefined: it leaves it as it is. */
export const DESIRED_BY_ACTION: Partial<Record<VmAction, DesiredState>> = {
  start: 'running',
  resume: 'running',
  stop: 'stopped',
  shutdown: 'stopped',
};

/** The states from which each action makes sense. `stop` is a hard power-off. */
const ALLOWED_FROM: Record<VmAction, readonly VmState[]> = {
  start: ['stopped', 'crashed'],
  shutdown: ['running', 'paused'],
  stop: ['running', 'paused', 'crashed'],
  reboot: ['running'],
  reset: ['running'],
  suspend: ['running'],
  resume: ['paused'],
};

export function assertActionAllowed(action: VmAction, state: VmState): void {
  if (!ALLOWED_FROM[action].includes(state)) {
    throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `Cannot ${action} a VM that is ${state}`, {
      state,
      allowedFrom: ALLOWED_FROM[action],
    });
  }
}

/**
 * What the hypervisor's state means for a VM. A domain shut off because its QEMU died (libvirt's
 * shutoff reason `crashed`) is a crashed VM, not a stopped one, until it starts again: otherwise
 * the next sweep would turn the crash the event reported into a clean stop, and the crash alert
 * would resolve by itself.
 */
export function vmStateFromDomain(state: DomainState, shutoffReason?: ShutoffReason): VmState {
  switch (state) {
    case 'running':
    case 'blocked':
    case 'shutdown':
      return 'running';
    case 'paused':
    case 'pmsuspended':
      return 'paused';
    case 'shutoff':
      return shutoffReason === 'crashed' ? 'crashed' : 'stopped';
    case 'crashed':
      return 'crashed';
    default:
      return 'error';
  }
}

/** States the reconciler leaves alone: an operation owns the VM while it is in them. */
export const TRANSITIONAL_STATES: readonly VmState[] = ['provisioning', 'deleting'];

/** States in which the VM's domain has a QEMU process, sized as it booted. */
export const DOMAIN_RUNNING_STATES: readonly VmState[] = ['running', 'paused'];
/** States in which it has none: the next start boots with the definition. */
export const DOMAIN_SHUT_OFF_STATES: readonly VmState[] = ['stopped', 'crashed', 'missing'];

/** The maxima a running domain booted with. */
export interface BootedSizes {
  vcpus: number;
  memoryMiB: number;
}

/** What `domain` booted with, if it runs (its live definition's maxima); undefined otherwise. */
export function bootedSizesOf(domain: DomainInfo): BootedSizes | undefined {
  return DOMAIN_RUNNING_STATES.includes(vmStateFromDomain(domain.state, domain.shutoffReason))
    ? { vcpus: domain.maxVcpus, memoryMiB: domain.maxMemoryMiB }
    : undefined;
}
