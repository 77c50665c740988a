import { HttpStatus, Injectable } from '@nestjs/common';
import type { NicModel, NicSpec, VirtualizationPort } from '@limen/libvirt';
import { AuthUser } from '../auth/decorators';
import { AppException, ErrorCode } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { Tx } from '../database/transaction';
import { invalidField } from '../hosts/invalid-field';
import { Network } from './network.entity';
import { normalizeMac, randomMac } from './network-addresses';
import { NetworkRepository } from './network.repository';
import { PortForwardRepository } from './port-forward.repository';
import { networkDefinitionOf, nicSpecOf } from './network-definition';
import { VmNic } from './vm-nic.entity';
import { VmNicRepository } from './vm-nic.repository';

/** Tries at a free random MAC before giving up (a clash is 1 in 2^46 per NIC). */
const MAC_ATTEMPTS = 5;

/** What a NIC row is about to hold, before its MAC is settled. */
export interface NicRequest {
  networkId: string;
  mac?: string;
  model?: NicModel;
}

function macInUse(mac: string): AppException {
  return new AppException(HttpStatus.CONFLICT, ErrorCode.MAC_IN_USE, `The MAC address ${mac} is already in use`);
}

/**
 * A VM's NICs as the rest of the api needs them: written at create (in its transaction) and by the
 * NIC routes, turned into the domain's NicSpecs, and the libvirt networks they need made sure of on
 * the VM's host before the domain is defined there.
 */
@Injectable()
export class VmNetworking {
  constructor(
    private readonly config: AppConfig,
    private readonly networks: NetworkRepository,
    private readonly nics: VmNicRepository,
    private readonly forwards: PortForwardRepository,
  ) {}

  /**
   * The NICs of a new VM, in `tx`: the ones asked for, or one on the default network (VM_NETWORK
   * names it). A network the caller may not see is 404; a MAC in use 409 MAC_IN_USE.
   */
  async attachAtCreate(tx: Tx, user: AuthUser, vmId: string, requested: NicRequest[] | undefined): Promise<VmNic[]> {
    const wanted = requested ?? [{ networkId: await this.defaultNetworkId(tx) }];
    const nics: VmNic[] = [];
    for (const [position, request] of wanted.entries()) {
      // The default network is the admin's choice for everyone, public or not.
      await this.usableNetwork(tx, requested ? user : null, request.networkId);
      nics.push(await this.insert(tx, vmId, request, position));
    }
    return nics;
  }

  /** A network `user` may attach a NIC to, share-locked until `tx` ends (null user: anyone may). */
  async usableNetwork(tx: Tx, user: AuthUser | null, networkId: string): Promise<Network> {
    const network = await this.networks.findForAttach(tx, networkId);
    if (!network || (user && !network.public && user.role !== 'admin')) throw AppException.notFound('Network');
    return network;
  }

  /** Inserts one NIC at `position`: a given MAC checked (400, 409 MAC_IN_USE), a missing one generated. */
  async insert(tx: Tx, vmId: string, request: NicRequest, position: number): Promise<VmNic> {
    const given = request.mac === undefined ? null : normalizeMac(request.mac);
    if (given && 'problem' in given) throw invalidField('mac', given.problem);
    for (let attempt = 0; attempt < (given ? 1 : MAC_ATTEMPTS); attempt++) {
      const mac = given ? given.mac : randomMac();
      if (given && (await this.nics.macInUse(mac, tx))) throw macInUse(mac);
      const nic = Object.assign(new VmNic(), {
        vmId,
        networkId: request.networkId,
        mac,
        model: request.model ?? 'virtio',
        position,
      });
      // The unique MAC: skipped rather than caught, so the transaction stays usable.
      if (await this.nics.insertIfMacFree(tx, nic)) return nic;
      if (given) throw macInUse(mac);
    }
    throw new AppException(HttpStatus.CONFLICT, ErrorCode.MAC_IN_USE, 'Could not find a free MAC address; retry');
  }

  /** The VM's NICs with their networks, in domain order. */
  async nicsWithNetworks(vmId: string, tx?: Tx): Promise<Array<{ nic: VmNic; network: Network }>> {
    const nics = await this.nics.ofVm(vmId, tx);
    const networks = new Map(
      (await this.networks.findMany([...new Set(nics.map((n) => n.networkId))], tx)).map((n) => [n.id, n]),
    );
    return nics.map((nic) => ({ nic, network: networks.get(nic.networkId)! }));
  }

  /** DomainSpec.nics of the VM, its user-mode NICs with their port forwards. */
  async nicSpecsFor(vmId: string): Promise<NicSpec[]> {
    const forwards = await this.forwards.ofVm(vmId);
    return (await this.nicsWithNetworks(vmId)).map(({ nic, network }) => nicSpecOf(nic, network, forwards));
  }

  /** Defines (if needed) on the VM's host each nat or isolated network its NICs use. */
  async ensureNetworksOnHost(port: VirtualizationPort, vmId: string): Promise<void> {
    const seen = new Set<string>();
    for (const { network } of await this.nicsWithNetworks(vmId)) {
      if (!network.libvirtName || seen.has(network.id)) continue;
      seen.add(network.id);
      await port.ensureNetwork(networkDefinitionOf(network));
    }
  }

  /** The default network's id (VM_NETWORK names it); 400 when it does not exist. */
  private async defaultNetworkId(tx: Tx): Promise<string> {
    const name = this.config.hypervisor.vmNetwork;
    const network = await this.networks.findByName(name, tx);
    if (!network) throw invalidField('nics', `the default network ${name} does not exist: name the VM's nics`);
    return network.id;
  }
}
