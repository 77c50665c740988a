import { HttpStatus, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { AuthUser } from '../auth/decorators';
import { AppException, ErrorCode } from '../common/problem';
import { Tx } from '../database/transaction';
import { IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { OperationDto } from '../operations/dto/operation.dto';
import { OperationsService } from '../operations/operations.service';
import { Vm } from '../vms/vm.entity';
import { VmAccess } from '../vms/vm-access';
import { TRANSITIONAL_STATES, VmState } from '../vms/vm-state';
import { CreatePortForwardDto, PortForwardAcceptedDto } from './dto/create-port-forward.dto';
import { PortForwardDto } from './dto/port-forward.dto';
import { NetworkRepository } from './network.repository';
import { PortForward } from './port-forward.entity';
import { PortForwardRepository } from './port-forward.repository';
import { conflict, PortForwardAllocator } from './port-forward-allocator';
import { VmNic } from './vm-nic.entity';
import { VmNicRepository } from './vm-nic.repository';

/** A VM in one of these gets no forward added or removed (its domain is gone, broken, or an operation owns it). */
const UNUSABLE_STATES: readonly VmState[] = [...TRANSITIONAL_STATES, 'missing', 'error'];

/**
 * Port forwards of user-mode NICs: a host port from PORT_FORWARD_RANGE on PORT_FORWARD_ADDRESS,
 * allocated in the request's transaction (PortForwardAllocator, so the answer names it), applied to
 * the domain by an operation (PortForwardOperations). Freed when the forward, its NIC or its VM is
 * deleted (the NIC and VM by ON DELETE CASCADE).
 */
@Injectable()
export class PortForwardsService {
  constructor(
    private readonly allocator: PortForwardAllocator,
    private readonly access: VmAccess,
    private readonly networks: NetworkRepository,
    private readonly nics: VmNicRepository,
    private readonly forwards: PortForwardRepository,
    private readonly operations: OperationsService,
    private readonly audit: AuditService,
  ) {}

  async list(user: AuthUser, vmId: string): Promise<PortForward[]> {
    await this.access.visible(user, vmId);
    return this.forwards.ofVm(vmId);
  }

  add(user: AuthUser, vmId: string, dto: CreatePortForwardDto, idem?: IdempotentRequest) {
    return this.accept(user, idem, 'vm.port-forward.add', async (tx) => {
      const vm = await this.usableVm(user, vmId, tx);
      const nic = await this.userModeNic(tx, vm, dto.nicId);
      return { vm, forward: await this.allocator.allocate(tx, vm, nic, dto) };
    });
  }

  remove(user: AuthUser, vmId: string, forwardId: string, idem?: IdempotentRequest) {
    return this.accept(user, idem, 'vm.port-forward.remove', async (tx) => {
      const vm = await this.usableVm(user, vmId, tx);
      const forward = await this.forwards.findOfVm(vm.id, forwardId, tx);
      if (!forward) throw AppException.notFound('Port forward');
      return { vm, forward };
    });
  }

  /** The NIC to forward to: the one named (404 if not the VM's), else the VM's first user-mode NIC. */
  async userModeNic(tx: Tx, vm: Vm, nicId?: string): Promise<VmNic> {
    const candidates = nicId ? [await this.nics.findOfVm(vm.id, nicId, tx)] : await this.nics.ofVm(vm.id, tx);
    if (nicId && !candidates[0]) throw AppException.notFound('NIC');
    const nics = candidates as VmNic[];
    const networks = new Map(
      (await this.networks.findMany([...new Set(nics.map((n) => n.networkId))], tx)).map((n) => [n.id, n]),
    );
    const nic = nics.find((n) => networks.get(n.networkId)?.kind === 'user');
    if (nic) return nic;
    throw conflict(
      nicId
        ? 'Port forwards need a user-mode NIC; this NIC is on a routed network: reach it at its address instead'
        : 'The VM has no user-mode NIC to forward ports to: add one on the user network, or reach it at its address',
    );
  }

  private accept(
    user: AuthUser,
    idem: IdempotentRequest | undefined,
    kind: 'vm.port-forward.add' | 'vm.port-forward.remove',
    work: (tx: Tx) => Promise<{ vm: Vm; forward: PortForward }>,
  ): Promise<PortForwardAcceptedDto> {
    return this.operations.accept(user.id, idem, async (tx) => {
      const { vm, forward } = await work(tx);
      const { id: forwardId, nicId, protocol, guestPort, hostAddress, hostPort } = forward;
      const op = await this.operations.create(tx, {
        kind,
        ownerId: vm.ownerId,
        vmId: vm.id,
        params: { forwardId, nicId, protocol, guestPort, hostAddress, hostPort },
      });
      this.audit.annotate({ targetId: forwardId });
      return { op, result: { portForward: PortForwardDto.from(forward), operation: OperationDto.from(op) } };
    });
  }

  private async usableVm(user: AuthUser, vmId: string, tx: Tx): Promise<Vm> {
    const vm = await this.access.visible(user, vmId, tx, true);
    if (UNUSABLE_STATES.includes(vm.state)) {
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The VM is ${vm.state}`);
    }
    return vm;
  }
}
