import { HttpStatus, Injectable, OnModuleInit } from '@nestjs/common';
import { HypervisorError, VirtualizationPort } from '@limen/libvirt';
import { AuthUser } from '../auth/decorators';
import { AppException, ErrorCode } from '../common/problem';
import { Tx } from '../database/transaction';
import { EventsService } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { invalidField } from '../hosts/invalid-field';
import { IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { OperationDto } from '../operations/dto/operation.dto';
import { Operation } from '../operations/operation.entity';
import { OperationRunner } from '../operations/operation-runner';
import { OperationsService } from '../operations/operations.service';
import { Vm } from '../vms/vm.entity';
import { VmRepository } from '../vms/vm.repository';
import { VmAccess } from '../vms/vm-access';
import { DOMAIN_RUNNING_STATES, TRANSITIONAL_STATES, VmState } from '../vms/vm-state';
import { CreateNicDto, MAX_NICS, NicAcceptedDto, NicDto } from './dto/nic.dto';
import { Network } from './network.entity';
import { networkDefinitionOf, nicSpecOf } from './network-definition';
import { NetworkRepository } from './network.repository';
import { PortForwardRepository } from './port-forward.repository';
import { PortForwardDto } from './dto/port-forward.dto';
import { VmNic } from './vm-nic.entity';
import { VmNicRepository } from './vm-nic.repository';
import { VmNetworking } from './vm-networking';

/** A VM in one of these cannot have NICs added or removed. */
const UNUSABLE_STATES: readonly VmState[] = [...TRANSITIONAL_STATES, 'missing', 'error', 'unknown'];

type NicKind = 'vm.nic.add' | 'vm.nic.remove';

/**
 * A VM's NICs: listed at once, added and removed by operations (hot-plugged while the VM runs).
 * What the hypervisor cannot do live (a user-mode NIC on a running VM) is refused before any
 * operation exists, from the VM's state; a VM keeps 1 to 8 NICs.
 */
@Injectable()
export class VmNicsService implements OnModuleInit {
  constructor(
    private readonly nics: VmNicRepository,
    private readonly networks: NetworkRepository,
    private readonly forwards: PortForwardRepository,
    private readonly networking: VmNetworking,
    private readonly access: VmAccess,
    private readonly vms: VmRepository,
    private readonly hostPorts: HostPorts,
    private readonly operations: OperationsService,
    private readonly runner: OperationRunner,
    private readonly events: EventsService,
  ) {}

  onModuleInit(): void {
    this.runner.register('vm.nic.add', (op) => this.runAdd(op));
    this.runner.register('vm.nic.remove', (op) => this.runRemove(op));
  }

  async list(user: AuthUser, vmId: string): Promise<NicDto[]> {
    const vm = await this.access.visible(user, vmId);
    const forwards = (await this.forwards.ofVm(vmId)).map(PortForwardDto.from);
    return (await this.nics.ofVm(vmId)).map((nic) => NicDto.from(nic, vm.addresses, forwards));
  }

  add(user: AuthUser, vmId: string, dto: CreateNicDto, idem?: IdempotentRequest): Promise<NicAcceptedDto> {
    return this.accept(user, idem, 'vm.nic.add', async (tx) => {
      const vm = await this.usableVm(user, vmId, tx);
      const network = await this.networking.usableNetwork(tx, user, dto.networkId);
      const existing = await this.nics.ofVm(vmId, tx);
      if (existing.length >= MAX_NICS) throw invalidField('networkId', `a VM has at most ${MAX_NICS} NICs`);
      this.assertPluggable(vm, network, 'added to');
      const position = Math.max(-1, ...existing.map((nic) => nic.position)) + 1;
      return { vm, nic: await this.networking.insert(tx, vmId, dto, position) };
    });
  }

  remove(user: AuthUser, vmId: string, nicId: string, idem?: IdempotentRequest): Promise<NicAcceptedDto> {
    return this.accept(user, idem, 'vm.nic.remove', async (tx) => {
      const vm = await this.usableVm(user, vmId, tx);
      const existing = await this.nics.ofVm(vmId, tx);
      const nic = existing.find((candidate) => candidate.id === nicId);
      if (!nic) throw AppException.notFound('NIC');
      if (existing.length === 1)
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, 'A VM keeps at least one NIC');
      this.assertPluggable(vm, (await this.networks.find(nic.networkId, tx))!, 'removed from');
      return { vm, nic };
    });
  }

  private accept(
    user: AuthUser,
    idem: IdempotentRequest | undefined,
    kind: NicKind,
    work: (tx: Tx) => Promise<{ vm: Vm; nic: VmNic }>,
  ): Promise<NicAcceptedDto> {
    return this.operations.accept(user.id, idem, async (tx) => {
      const { vm, nic } = await work(tx);
      const op = await this.operations.create(tx, {
        kind,
        ownerId: vm.ownerId,
        vmId: vm.id,
        params: { nicId: nic.id },
      });
      return { op, result: { nic: NicDto.from(nic, vm.addresses), operation: OperationDto.from(op) } };
    });
  }

  private async usableVm(user: AuthUser, vmId: string, tx: Tx): Promise<Vm> {
    const vm = await this.access.visible(user, vmId, tx, true);
    if (UNUSABLE_STATES.includes(vm.state))
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The VM is ${vm.state}`);
    return vm;
  }

  /** QEMU cannot hot-plug user-mode networking: such a NIC changes only while the VM is shut off. */
  private assertPluggable(vm: Vm, network: Network, change: string): void {
    if (network.kind === 'user' && DOMAIN_RUNNING_STATES.includes(vm.state))
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.INVALID_STATE,
        `A user-mode NIC cannot be ${change} a ${vm.state} VM (QEMU cannot hot-plug user-mode networking); stop the VM first`,
        { state: vm.state },
      );
  }

  private async target(op: Operation<NicKind>): Promise<{ vm: Vm; port: VirtualizationPort; nic: VmNic | null }> {
    const vm = await this.vms.find(op.vmId!);
    if (!vm) throw new HypervisorError('DOMAIN_NOT_FOUND', 'The VM no longer exists');
    return { vm, port: this.hostPorts.forVm(vm), nic: await this.nics.find(op.params.nicId) };
  }

  /** The network on the VM's host if it is a libvirt one, then the NIC (unless a re-run finds it there). */
  private async runAdd(op: Operation<'vm.nic.add'>): Promise<Record<string, unknown>> {
    const { vm, port, nic } = await this.target(op);
    if (!nic) return { skipped: true };
    let live = false;
    try {
      const network = (await this.networks.find(nic.networkId))!;
      if (network.libvirtName) await port.ensureNetwork(networkDefinitionOf(network));
      const domain = await port.getDomain(vm.id);
      if (!domain.nics.some((other) => other.id === nic.id))
        live = (await port.attachNic(vm.id, nicSpecOf(nic, network))).live;
    } catch (error) {
      // Not added: the row goes, and with it its MAC.
      await this.nics.delete(nic.id);
      throw error;
    }
    await this.events.publish({
      type: 'vm.nic.added',
      ownerId: vm.ownerId,
      vmId: vm.id,
      payload: { vmId: vm.id, nic: NicDto.from(nic) },
    });
    return { nicId: nic.id, live };
  }

  private async runRemove(op: Operation<'vm.nic.remove'>): Promise<Record<string, unknown>> {
    const { vm, port, nic } = await this.target(op);
    if (!nic) return { alreadyRemoved: true };
    const { live } = await port.detachNic(vm.id, nic.id);
    await this.nics.delete(nic.id);
    await this.events.publish({
      type: 'vm.nic.removed',
      ownerId: vm.ownerId,
      vmId: vm.id,
      payload: { vmId: vm.id, nicId: nic.id },
    });
    return { nicId: nic.id, live };
  }
}
