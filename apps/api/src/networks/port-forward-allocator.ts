import { HttpStatus, Injectable } from '@nestjs/common';
import type { PortProtocol } from '@limen/libvirt';
import { AppException, ErrorCode } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { Tx } from '../database/transaction';
import { HostPorts } from '../hosts/host-ports';
import { invalidField } from '../hosts/invalid-field';
import { Vm } from '../vms/vm.entity';
import { HostPortProbe } from './host-port-probe';
import { NetworkRepository } from './network.repository';
import { PortForward } from './port-forward.entity';
import { PortForwardRepository } from './port-forward.repository';
import { VmNic } from './vm-nic.entity';

/** What a forward is asked for: the rest (host port, address) LIMEN decides. */
export interface PortForwardRequest {
  guestPort: number;
  protocol?: PortProtocol;
}

export function conflict(detail: string): AppException {
  return new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, detail);
}

/**
 * Hands out host ports (PORT_FORWARD_RANGE, on PORT_FORWARD_ADDRESS) to port forwards, in the
 * transaction of the request that wants one: the forward routes and a VM create with
 * `nics[].portForwards` both allocate here.
 */
@Injectable()
export class PortForwardAllocator {
  constructor(
    private readonly config: AppConfig,
    private readonly hostPorts: HostPorts,
    private readonly probe: HostPortProbe,
    private readonly forwards: PortForwardRepository,
    private readonly networks: NetworkRepository,
  ) {}

  /**
   * The forwards a VM create asks for with its NICs (`nics[i].portForwards`; `nics` is the rows
   * made for `requested`, in its order), allocated in the create's transaction. Only NICs on a
   * user-mode network take forwards (400 otherwise).
   */
  async allocateAtCreate(
    tx: Tx,
    vm: Vm,
    nics: VmNic[],
    requested: Array<{ portForwards?: PortForwardRequest[] }> | undefined,
  ): Promise<PortForward[]> {
    const allocated: PortForward[] = [];
    for (const [i, request] of (requested ?? []).entries()) {
      if (!request.portForwards?.length) continue;
      if ((await this.networks.find(nics[i].networkId, tx))?.kind !== 'user') {
        throw invalidField(`nics.${i}.portForwards`, 'port forwards need a NIC on a user-mode network');
      }
      for (const forward of request.portForwards) allocated.push(await this.allocate(tx, vm, nics[i], forward));
    }
    return allocated;
  }

  /**
   * A forward of a free host port to `request.guestPort` on `nic`, inserted in `tx`: the lowest port
   * of the range that no forward holds and, when the VM is on this machine, nothing else is bound to.
   * Two requests at once cannot get one port: the second's insert waits for the first's commit on
   * the (protocol, host_port) key, is skipped, and it tries the next port. 409 PORT_RANGE_EXHAUSTED
   * when none is left; 409 CONFLICT when the NIC already forwards that guest port.
   */
  async allocate(tx: Tx, vm: Vm, nic: VmNic, request: PortForwardRequest): Promise<PortForward> {
    const protocol = request.protocol ?? 'tcp';
    const { guestPort } = request;
    const duplicate = () =>
      conflict(`The NIC already has a forward to ${protocol} port ${guestPort}; delete it first to change it`);
    if (await this.forwards.guestPortTaken(tx, nic.id, protocol, guestPort)) throw duplicate();
    const { from, to, address } = this.config.portForwards;
    const held = new Set(await this.forwards.hostPortsInUse(tx, protocol, from, to));
    const local = !vm.hostId || vm.hostId === this.hostPorts.localId;
    for (let hostPort = from; hostPort <= to; hostPort++) {
      if (held.has(hostPort)) continue;
      if (local && !(await this.probe.isFree(address, hostPort, protocol))) continue;
      const forward = Object.assign(new PortForward(), {
        vmId: vm.id,
        nicId: nic.id,
        protocol,
        guestPort,
        hostAddress: address,
        hostPort,
      });
      if (await this.forwards.insertIfFree(tx, forward)) return forward;
      // Skipped: another request committed this host port, or this very guest port, meanwhile.
      if (await this.forwards.guestPortTaken(tx, nic.id, protocol, guestPort)) throw duplicate();
    }
    throw new AppException(
      HttpStatus.CONFLICT,
      ErrorCode.PORT_RANGE_EXHAUSTED,
      `No ${protocol} host port is free in ${from}-${to}; delete a port forward or ask an admin to widen PORT_FORWARD_RANGE`,
    );
  }
}
