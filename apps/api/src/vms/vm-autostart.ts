import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DomainInfo, HypervisorError, VirtualizationPort } from '@limen/libvirt';
import { AuditService } from '../audit/audit.service';
import { hypervisorLogText } from '../common/hypervisor-details';
import { AppException, ErrorCode } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { EventsService } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { Operation } from '../operations/operation.entity';
import { OperationRunner, operationErrorFrom } from '../operations/operation-runner';
import { OperationsService } from '../operations/operations.service';
import { Vm } from './vm.entity';
import { VmRepository } from './vm.repository';
import { bootedSizesOf, DOMAIN_RUNNING_STATES, TRANSITIONAL_STATES, VmState, vmStateFromDomain } from './vm-state';
import { vmStateEvent, VmStateWriter } from './vm-state-writer';

/** What the sweep does about one VM that has autostart on and is wanted running. */
export type AutostartStep =
  /** Its domain is shut off and no backoff holds it: a `vm.autostart` operation. */
  | 'start'
  /** It has run past the backoff of its last attempt: the attempt record starts afresh. */
  | 'reset'
  /** The guest powered itself off: its user wants it stopped, not started again. */
  | 'powered-off'
  | 'wait';

export interface AutostartPolicy {
  maxAttempts: number;
  /** How long a crashed VM stays crashed before a start (the alert evaluation interval). */
  crashHoldSeconds: number;
}

type AttemptRecord = Pick<Vm, 'autostart' | 'desiredState' | 'startAttempts' | 'lastStartError'>;

/**
 * A VM the reconcile sweep may write (VmRepository.sweepCandidates): what a state write compares,
 * and what its state reason depends on.
 */
export type SweepCandidate = Pick<Vm, 'id' | 'state' | 'stateReason' | 'runningVcpus' | 'runningMemoryMiB'> &
  AttemptRecord;

/**
 * The step for `vm` given its domain as the sweep listed it, at `now` (database time). A VM
 * without a domain (`missing`) has nothing to start. A crashed VM is held for one alert evaluation
 * interval first: the `vm.crashed` metric samples VM states, and a crash restarted before any
 * evaluation saw it would never raise its alert.
 */
export function autostartStep(
  vm: Vm,
  domain: DomainInfo | undefined,
  now: Date,
  policy: AutostartPolicy,
): AutostartStep {
  if (!domain) return 'wait';
  const state = vmStateFromDomain(domain.state, domain.shutoffReason);
  const due = vm.nextStartAt === null || vm.nextStartAt.getTime() <= now.getTime();
  if (DOMAIN_RUNNING_STATES.includes(state)) return vm.startAttempts > 0 && due ? 'reset' : 'wait';
  // libvirt forgets a shut-off domain's reason when it restarts (it becomes `unknown`), so after a
  // host reboot this is only ever a power-off the guest itself asked for while libvirtd watched.
  if (domain.state === 'shutoff' && domain.shutoffReason === 'shutdown') return 'powered-off';
  if (state !== 'stopped' && state !== 'crashed') return 'wait';
  if (vm.startAttempts >= policy.maxAttempts || !due) return 'wait';
  if (vm.state === 'crashed' && now.getTime() - vm.updatedAt.getTime() < policy.crashHoldSeconds * 1000) return 'wait';
  return 'start';
}

/** The state reason of a shut-off VM the sweep has given up on; null for every other VM. */
export function autostartGaveUpReason(vm: AttemptRecord, state: VmState, maxAttempts: number): string | null {
  const gaveUp =
    vm.autostart &&
    vm.desiredState === 'running' &&
    maxAttempts > 0 &&
    vm.startAttempts >= maxAttempts &&
    (state === 'stopped' || state === 'crashed');
  if (!gaveUp) return null;
  const last = vm.lastStartError ? ` (last error: ${vm.lastStartError})` : '';
  return `autostart gave up after ${vm.startAttempts} attempts in a row that did not keep the VM running${last}; start it to try again`;
}

/**
 * Autostart: the leader's sweep (VmReconciler) hands each host's domain listing here, and VMs
 * with autostart on, wanted running and with no operation get what `autostartStep` says. Each
 * start is a `vm.autostart` operation (streamed, and audited as `vms.autostart`), recorded on the
 * VM: after each attempt the next waits AUTOSTART_BACKOFF_SECONDS · 2^(attempts - 1), at most an
 * hour, so a VM that keeps failing, or keeps crashing right after it starts, backs off; after
 * AUTOSTART_MAX_ATTEMPTS in a row the sweep leaves it to its owner. A VM in backoff costs nothing:
 * no operation, no write.
 */
@Injectable()
export class VmAutostart implements OnModuleInit {
  private readonly logger = new Logger('Autostart');

  constructor(
    private readonly config: AppConfig,
    private readonly hostPorts: HostPorts,
    private readonly runner: OperationRunner,
    private readonly operations: OperationsService,
    private readonly vms: VmRepository,
    private readonly stateWriter: VmStateWriter,
    private readonly events: EventsService,
    private readonly audit: AuditService,
  ) {}

  onModuleInit(): void {
    this.runner.register('vm.autostart', (op) => this.run(op));
  }

  get policy(): AutostartPolicy {
    return {
      maxAttempts: this.config.autostart.maxAttempts,
      crashHoldSeconds: this.config.alerting.evalIntervalSeconds,
    };
  }

  /** One host's part of the sweep, from the domains it just listed. */
  async sweepHost(hostId: string, domains: DomainInfo[]): Promise<void> {
    if (this.config.autostart.maxAttempts === 0) return;
    const byVm = new Map(domains.filter((d) => d.vmId).map((d) => [d.vmId!, d]));
    const now = await this.vms.clock();
    for (const vm of await this.vms.autostartCandidates(hostId)) {
      switch (autostartStep(vm, byVm.get(vm.id), now, this.policy)) {
        case 'start':
          await this.submit(vm);
          break;
        case 'reset':
          await this.announce(await this.vms.resetStartAttempts(vm.id));
          break;
        case 'powered-off':
          this.logger.log(`VM ${vm.id} was powered off from inside its guest: no longer wanted running`);
          await this.announce(await this.vms.writeDesiredState(vm.id, 'stopped'));
          break;
        case 'wait':
          break;
      }
    }
  }

  private async submit(vm: Vm): Promise<void> {
    this.logger.log(`starting VM ${vm.id}, found down while wanted running (attempt ${vm.startAttempts + 1})`);
    await this.operations
      .accept(vm.ownerId, undefined, async (tx) => ({
        op: await this.operations.create(tx, { kind: 'vm.autostart', ownerId: vm.ownerId, vmId: vm.id }),
        result: null,
      }))
      .catch((error) => {
        // The owner's own request got there first (409 OPERATION_IN_PROGRESS): theirs decides.
        if (error instanceof AppException && error.code === ErrorCode.OPERATION_IN_PROGRESS) return;
        this.logger.warn(`autostart of VM ${vm.id} not submitted: ${(error as Error).message}`);
      });
  }

  /**
   * Starts the VM unless it already runs, then records the attempt (counted, backoff, error) and
   * the VM's state. A failed start fails the operation with the start's error.
   */
  private async run(op: Operation<'vm.autostart'>): Promise<Record<string, unknown>> {
    const vm = await this.vms.find(op.vmId!);
    if (!vm) throw new HypervisorError('DOMAIN_NOT_FOUND', 'The VM no longer exists');
    // Its owner may have turned autostart off since the sweep decided (stopping it would have
    // waited for this operation).
    if (!vm.autostart || vm.desiredState !== 'running') return { started: false };
    const port = this.hostPorts.forVm(vm);
    const before = await port.getDomain(vm.id);
    if (DOMAIN_RUNNING_STATES.includes(vmStateFromDomain(before.state, before.shutoffReason))) {
      return { started: false, state: vmStateFromDomain(before.state, before.shutoffReason) };
    }
    let failure: unknown = null;
    try {
      await startDomain(port, vm.id, before);
    } catch (error) {
      failure = error;
      this.logger.warn(
        `autostart of VM ${vm.id} failed: ${HypervisorError.is(error) ? hypervisorLogText(error) : (error as Error).message}`,
      );
    }
    const error = failure ? operationErrorFrom(failure) : null;
    const recorded = await this.vms.recordStartAttempt(vm.id, {
      error: error ? `${error.code}: ${error.detail}` : null,
      backoffSeconds: this.config.autostart.backoffSeconds,
    });
    if (!recorded) throw new HypervisorError('DOMAIN_NOT_FOUND', 'The VM no longer exists');
    const state = await this.settle(port, recorded);
    this.record(op, recorded, error?.code ?? null);
    if (failure) throw failure;
    return { started: true, state, attempt: recorded.startAttempts };
  }

  /** Writes the VM's state as its domain now is (and why, once the sweep has given up), announcing the change. */
  private async settle(port: VirtualizationPort, vm: Vm): Promise<VmState | null> {
    const domain = await port.getDomain(vm.id).catch(() => null);
    const state = domain ? vmStateFromDomain(domain.state, domain.shutoffReason) : null;
    const changed =
      domain &&
      state &&
      (await this.stateWriter.set(vm.id, {
        state,
        reason: autostartGaveUpReason(vm, state, this.config.autostart.maxAttempts),
        booted: bootedSizesOf(domain),
        unlessIn: TRANSITIONAL_STATES,
      }));
    // vm.state carries the version the attempt record bumped; without a state change, vm.updated does.
    if (!changed) await this.announce(vm);
    return state;
  }

  private record(op: Operation, vm: Vm, errorCode: string | null): void {
    void this.audit.record({
      actorId: null,
      actorUsername: null,
      action: 'vms.autostart',
      targetType: 'vms',
      targetId: vm.id,
      result: errorCode ? 'failure' : 'success',
      statusCode: null,
      errorCode,
      requestId: null,
      ip: null,
      userAgent: null,
      before: null,
      after: null,
      details: { operationId: op.id, attempt: vm.startAttempts, nextAt: vm.nextStartAt?.toISOString() ?? null },
    });
  }

  private async announce(vm: Vm | null): Promise<void> {
    if (vm) await this.events.publish(vmStateEvent(vm, 'vm.updated'));
  }
}

/** A domain libvirt holds `crashed` (kept for a dump) must be destroyed before it can start again. */
async function startDomain(port: VirtualizationPort, vmId: string, domain: DomainInfo): Promise<void> {
  if (domain.state === 'crashed') await port.destroy(vmId);
  try {
    await port.start(vmId);
  } catch (error) {
    // Started meanwhile by something else: that is what was wanted.
    if (!HypervisorError.is(error, 'INVALID_STATE')) throw error;
  }
}
