import { HttpStatus } from '@nestjs/common';
import type { DomainState } from '@limen/libvirt';
import { AppException, ErrorCode } from '../common/problem';

/** `unknown`: the VM's host does not answer, so its real state cannot be known. */
export const VM_STATES = ['provisioning', 'stopped', 'running', 'paused', 'crashed', 'missing', 'error', 'deleting', 'unknown'] as const;
export type VmState = (typeof VM_STATES)[number];

export const VM_ACTIONS = ['start', 'shutdown', 'stop', 'reboot', 'reset', 'suspend', 'resume'] as const;
export type VmAction = (typeof VM_ACTIONS)[number];

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
    throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `Cannot ${action} a VM that is ${state}`, { state, allowedFrom: ALLOWED_FROM[action] });
  }
}

/** What the hypervisor's state means for a VM. */
export function vmStateFromDomain(state: DomainState): VmState {
  switch (state) {
    case 'running':
    case 'blocked':
    case 'shutdown':
      return 'running';
    case 'paused':
    case 'pmsuspended':
      return 'paused';
    case 'shutoff':
      return 'stopped';
    case 'crashed':
      return 'crashed';
    default:
      return 'error';
  }
}

/** States the reconciler leaves alone: an operation owns the VM while it is in them. */
export const TRANSITIONAL_STATES: readonly VmState[] = ['provisioning', 'deleting'];
