import { Injectable, OnModuleInit } from '@nestjs/common';
import { HypervisorError, PortForwardSpec } from '@limen/libvirt';
import { HostPorts } from '../hosts/host-ports';
import { PortForwardParams } from '../operations/operation-kinds';
import { Operation } from '../operations/operation.entity';
import { OperationRunner } from '../operations/operation-runner';
import { VmRepository } from '../vms/vm.repository';
import { PortForwardRepository } from './port-forward.repository';

function specOf(params: PortForwardParams): PortForwardSpec {
  const { protocol, hostAddress, hostPort, guestPort } = params;
  return { protocol, hostAddress, hostPort, guestPort };
}

/**
 * The hypervisor side of port forwards: the domain's user-mode NIC gets (or loses) the forward, in
 * its definition and, while it runs, live. Both handlers may run again after a crash: an add skips a
 * forward the domain already has, and a remove of one it does not have succeeds.
 */
@Injectable()
export class PortForwardOperations implements OnModuleInit {
  constructor(
    private readonly hostPorts: HostPorts,
    private readonly runner: OperationRunner,
    private readonly vms: VmRepository,
    private readonly forwards: PortForwardRepository,
  ) {}

  onModuleInit(): void {
    this.runner.register('vm.port-forward.add', (op) => this.add(op));
    this.runner.register('vm.port-forward.remove', (op) => this.remove(op));
  }

  /** On failure the row goes, and with it the host port: a forward that is not there holds nothing. */
  private async add(op: Operation<'vm.port-forward.add'>): Promise<Record<string, unknown>> {
    const { forwardId, nicId, hostPort } = op.params;
    // Gone already: its NIC or VM was deleted meanwhile, and the domain has no place for it.
    if (!(await this.forwards.find(forwardId))) return { skipped: true };
    try {
      const vm = await this.vms.find(op.vmId!);
      if (!vm) throw new HypervisorError('DOMAIN_NOT_FOUND', 'The VM no longer exists');
      const port = this.hostPorts.forVm(vm);
      const nic = (await port.getDomain(vm.id)).nics.find((n) => n.id === nicId);
      const present =
        nic?.attachment.type === 'user' &&
        (nic.attachment.portForwards ?? []).some((f) => f.protocol === op.params.protocol && f.hostPort === hostPort);
      const applied = present
        ? { config: true, live: false }
        : await port.addPortForward(vm.id, nicId, specOf(op.params));
      return { portForwardId: forwardId, hostPort, ...applied };
    } catch (error) {
      await this.forwards.delete(forwardId);
      throw error;
    }
  }

  /** The row goes once the domain no longer has the forward (or the domain is gone): only then is the port free. */
  private async remove(op: Operation<'vm.port-forward.remove'>): Promise<Record<string, unknown>> {
    const { forwardId, nicId } = op.params;
    const vm = await this.vms.find(op.vmId!);
    let applied = { config: false, live: false };
    if (vm) {
      try {
        applied = await this.hostPorts.forVm(vm).removePortForward(vm.id, nicId, specOf(op.params));
      } catch (error) {
        if (!HypervisorError.is(error, 'DOMAIN_NOT_FOUND')) throw error;
      }
    }
    await this.forwards.delete(forwardId);
    return { portForwardId: forwardId, ...applied };
  }
}
