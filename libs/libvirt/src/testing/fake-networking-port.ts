import { HypervisorError } from '../errors/hypervisor-error';
import {
  AddressSource,
  DhcpLease,
  DomainSpec,
  GuestExecResult,
  GuestInfo,
  InterfaceAddress,
  NetworkDefinition,
  NetworkInfo,
  NicSpec,
  PortForwardSpec,
  SetResourceResult,
} from '../models';
import { domainNameFor } from '../naming/domain-name';
import { assertHostBridgeName, assertNetworkName, assertNicId } from '../naming/network-name';
import { MAX_NICS, nicsOf, validateNic, validatePortForward } from '../networks/network-validation';
import { FakeDomain, FakeGuestAgent, invalidState, isActive } from './fake-domain';
import { FakeNetworks } from './fake-networks';
import { FakePower } from './fake-power';

const DEBIAN: FakeGuestAgent['os'] = {
  name: 'Debian GNU/Linux',
  version: '12 (bookworm)',
  kernel: '6.1.0-28-cloud-amd64',
};
/** The address QEMU's user-mode DHCP hands out. */
const SLIRP_ADDRESS = { ip: '10.0.2.15', prefix: 24 };
export const USER_NIC_HOT_PLUG = 'a user-mode NIC can only be added to or removed from a stopped VM';

function invalid(message: string): HypervisorError {
  return new HypervisorError('INVALID_ARGUMENT', message);
}

function sameForward(a: PortForwardSpec, b: PortForwardSpec): boolean {
  return a.protocol === b.protocol && a.hostAddress === b.hostAddress && a.hostPort === b.hostPort;
}

/**
 * The fake's networks, NICs, port forwards and guest agent (the part of the port added for
 * issue 14), over the domains FakeVirtualizationPort keeps. Guests with an agent (setGuestAgent)
 * connect it at each boot; NICs on LIMEN networks get DHCP leases while their domain runs.
 */
export abstract class FakeNetworkingPort {
  /** Networks, host routes, bridges and leases of the fake host: tests may set `hostRoutes` and `bridges`. */
  readonly networks = new FakeNetworks();
  protected readonly domains = new Map<string, FakeDomain>();
  private readonly arp = new Map<string, InterfaceAddress>();

  protected abstract readonly power: FakePower;

  // ---- test controls ----

  /**
   * Gives the guest a QEMU guest agent (connected now if the domain runs with the channel, and at
   * every boot), or takes it away (`null`: disconnected). Defaults: Debian 12, no exec output.
   */
  setGuestAgent(vmId: string, agent: Partial<FakeGuestAgent> | null = {}): void {
    const domain = this.require(vmId);
    domain.agent = agent ? { os: DEBIAN, ...agent } : undefined;
    const connect = !!agent && domain.live !== undefined && domain.live.guestAgent !== false;
    if (connect !== !!domain.agentConnected) this.power.agentConnects(domain, connect);
  }

  /** Fixes what getDhcpLeases(network) answers (undefined: leases follow the running NICs again). */
  setLeases(network: string, leases: DhcpLease[] | undefined): void {
    this.networks.setLeases(network, leases);
  }

  setHostRoutes(cidrs: string[]): void {
    this.networks.hostRoutes = [...cidrs];
  }

  addBridge(name: string): void {
    this.networks.bridges.add(name);
  }

  /** An entry of the host's ARP table (what getInterfaceAddresses(…, 'arp') finds for that MAC). */
  setArpEntry(mac: string, ip: string, prefix = 24): void {
    this.arp.set(mac.toLowerCase(), { mac: mac.toLowerCase(), ip, prefix, family: 'ipv4' });
  }

  /** Filesystems frozen through the agent now. */
  frozenFilesystems(vmId: string): number {
    return this.require(vmId).frozenFilesystems ?? 0;
  }

  // ---- networks ----

  async ensureNetwork(definition: NetworkDefinition): Promise<NetworkInfo> {
    return this.networks.ensure(definition);
  }

  async removeNetwork(name: string): Promise<void> {
    assertNetworkName(name);
    const user = [...this.domains.values()].find((domain) =>
      domain.live ? nicsOf(domain.live).some((nic) => this.isOn(nic, name)) : false,
    );
    if (user)
      throw new HypervisorError('NETWORK_IN_USE', `network ${name} is used by ${domainNameFor(user.config.vmId)}`);
    this.networks.remove(name);
  }

  async listNetworks(): Promise<NetworkInfo[]> {
    return this.networks.list();
  }

  async listHostRoutes(): Promise<string[]> {
    return [...this.networks.hostRoutes];
  }

  async hasBridge(name: string): Promise<boolean> {
    assertHostBridgeName(name);
    return this.networks.hasBridge(name);
  }

  async getDhcpLeases(network: string): Promise<DhcpLease[]> {
    const macs = [...this.domains.values()].flatMap((domain) =>
      domain.live
        ? nicsOf(domain.live)
            .filter((nic) => this.isOn(nic, network))
            .map((nic) => ({ mac: nic.mac, hostname: domain.agent?.hostname }))
        : [],
    );
    return this.networks.leases(network, macs);
  }

  // ---- NICs and port forwards ----

  async attachNic(vmId: string, nic: NicSpec): Promise<SetResourceResult> {
    validateNic(nic);
    const domain = this.require(vmId);
    const added: NicSpec = { ...structuredClone(nic), mac: nic.mac.toLowerCase() };
    const nics = nicsOf(domain.config);
    if (nics.some((other) => other.id === nic.id || other.mac === added.mac))
      throw invalid(`domain ${domainNameFor(vmId)} already has a NIC with id ${nic.id} or MAC ${added.mac}`);
    if (nics.length >= MAX_NICS) throw invalid(`at most ${MAX_NICS} NICs`);
    const live = domain.live !== undefined;
    if (live && nic.attachment.type === 'user') throw invalidState(vmId, `is running: ${USER_NIC_HOT_PLUG}`);
    if (live && nic.attachment.type === 'network' && !this.networks.has(nic.attachment.network))
      throw invalid(`network ${nic.attachment.network} not found`);
    domain.config = { ...domain.config, nics: [...nics, added] };
    if (domain.live) domain.live = { ...domain.live, nics: [...nicsOf(domain.live), structuredClone(added)] };
    return { config: true, live };
  }

  /** Idempotent: a NIC that is not there is not an error. */
  async detachNic(vmId: string, nicId: string): Promise<SetResourceResult> {
    assertNicId(nicId);
    const domain = this.require(vmId);
    const nic = nicsOf(domain.live ?? domain.config).find((candidate) => candidate.id === nicId);
    if (domain.live && nic?.attachment.type === 'user') throw invalidState(vmId, `is running: ${USER_NIC_HOT_PLUG}`);
    domain.config = { ...domain.config, nics: nicsOf(domain.config).filter((other) => other.id !== nicId) };
    if (domain.live) domain.live = { ...domain.live, nics: nicsOf(domain.live).filter((other) => other.id !== nicId) };
    return { config: true, live: domain.live !== undefined };
  }

  async addPortForward(vmId: string, nicId: string, forward: PortForwardSpec): Promise<SetResourceResult> {
    validatePortForward(forward);
    return this.changeForwards(vmId, nicId, (forwards) => {
      const clash = forwards.find((other) => sameForward(other, forward));
      if (clash && clash.guestPort !== forward.guestPort)
        throw invalid(`host port ${forward.protocol}/${forward.hostPort} already forwards to ${clash.guestPort}`);
      return clash ? forwards : [...forwards, { ...forward }];
    });
  }

  async removePortForward(vmId: string, nicId: string, forward: PortForwardSpec): Promise<SetResourceResult> {
    validatePortForward(forward);
    return this.changeForwards(vmId, nicId, (forwards) => forwards.filter((other) => !sameForward(other, forward)));
  }

  // ---- guest ----

  async getInterfaceAddresses(vmId: string, source: AddressSource): Promise<InterfaceAddress[]> {
    if (!['lease', 'agent', 'arp'].includes(source)) throw invalid('source must be lease, agent or arp');
    const domain = this.require(vmId);
    if (!domain.live) return [];
    if (source === 'agent') {
      const agent = this.agentOf(domain);
      return structuredClone(agent.addresses ?? (await this.agentAddresses(domain.live)));
    }
    const leases = await this.leaseAddresses(domain.live);
    if (source === 'lease') return leases;
    const arp = nicsOf(domain.live).flatMap((nic) => (this.arp.has(nic.mac) ? [{ ...this.arp.get(nic.mac)! }] : []));
    return [...leases.filter((lease) => !arp.some((entry) => entry.mac === lease.mac)), ...arp];
  }

  async getGuestInfo(vmId: string): Promise<GuestInfo> {
    const agent = this.agentOf(this.require(vmId));
    return { os: { ...agent.os }, ...(agent.hostname ? { hostname: agent.hostname } : {}) };
  }

  async guestExec(
    vmId: string,
    command: string[],
    options: { timeoutMs?: number; input?: string } = {},
  ): Promise<GuestExecResult> {
    if (
      !Array.isArray(command) ||
      command.length === 0 ||
      command.some((arg) => typeof arg !== 'string' || arg.includes('\0'))
    )
      throw invalid('command must be a non-empty list of strings');
    const agent = this.agentOf(this.require(vmId));
    const timeoutMs = options.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HypervisorError('TIMEOUT', `${command[0]} did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const result = agent.exec?.([...command], options.input) ?? { exitCode: 0, stdout: '', stderr: '' };
      return { ...(await Promise.race([Promise.resolve(result), timeout])) };
    } finally {
      clearTimeout(timer);
    }
  }

  async freezeFilesystems(vmId: string): Promise<number> {
    const domain = this.require(vmId);
    const agent = this.agentOf(domain);
    if (domain.frozenFilesystems !== undefined) throw invalidState(vmId, 'has its filesystems frozen already');
    domain.frozenFilesystems = agent.filesystems ?? 1;
    return domain.frozenFilesystems;
  }

  async thawFilesystems(vmId: string): Promise<number> {
    const domain = this.require(vmId);
    this.agentOf(domain);
    const thawed = domain.frozenFilesystems ?? 0;
    domain.frozenFilesystems = undefined;
    return thawed;
  }

  // ---- internals ----

  protected require(vmId: string): FakeDomain {
    const domain = this.domains.get(vmId);
    if (!domain) throw new HypervisorError('DOMAIN_NOT_FOUND', `domain ${domainNameFor(vmId)} not found`);
    return domain;
  }

  protected requireRunning(vmId: string): FakeDomain {
    const domain = this.require(vmId);
    if (!isActive(domain.state)) throw invalidState(vmId, 'is not running');
    return domain;
  }

  private isOn(nic: NicSpec, network: string): boolean {
    return nic.attachment.type === 'network' && nic.attachment.network === network;
  }

  private agentOf(domain: FakeDomain): FakeGuestAgent {
    if (!domain.live || !domain.agentConnected || !domain.agent)
      throw new HypervisorError(
        'GUEST_AGENT_UNAVAILABLE',
        `domain ${domainNameFor(domain.config.vmId)}: QEMU guest agent is not connected`,
      );
    return domain.agent;
  }

  private async leaseAddresses(spec: DomainSpec): Promise<InterfaceAddress[]> {
    const networks = new Set(
      nicsOf(spec).flatMap((nic) => (nic.attachment.type === 'network' ? [nic.attachment.network] : [])),
    );
    const macs = new Set(nicsOf(spec).map((nic) => nic.mac));
    const leases = (await Promise.all([...networks].map((network) => this.getDhcpLeases(network)))).flat();
    return leases
      .filter((lease) => macs.has(lease.mac))
      .map(({ mac, ip, prefix }) => ({ mac, ip, prefix, family: 'ipv4' as const }));
  }

  /** The agent's view: every NIC with its lease (or QEMU's user-mode address), named as Debian names them. */
  private async agentAddresses(spec: DomainSpec): Promise<InterfaceAddress[]> {
    const leases = await this.leaseAddresses(spec);
    return nicsOf(spec).flatMap((nic, index) => {
      const name = `ens${3 + index}`;
      if (nic.attachment.type === 'user') return [{ mac: nic.mac, ...SLIRP_ADDRESS, family: 'ipv4' as const, name }];
      const lease = leases.find((candidate) => candidate.mac === nic.mac);
      return lease ? [{ ...lease, name }] : [];
    });
  }

  private changeForwards(
    vmId: string,
    nicId: string,
    change: (forwards: PortForwardSpec[]) => PortForwardSpec[],
  ): SetResourceResult {
    assertNicId(nicId);
    const domain = this.require(vmId);
    const apply = (spec: DomainSpec): DomainSpec => ({
      ...spec,
      nics: nicsOf(spec).map((nic) =>
        nic.id === nicId && nic.attachment.type === 'user'
          ? { ...nic, attachment: { type: 'user', portForwards: change(nic.attachment.portForwards ?? []) } }
          : nic,
      ),
    });
    const nic = nicsOf(domain.config).find((candidate) => candidate.id === nicId);
    if (!nic) throw invalid(`domain ${domainNameFor(vmId)} has no NIC ${nicId}`);
    if (nic.attachment.type !== 'user')
      throw invalid(`NIC ${nicId} is not a user-mode NIC: only those have port forwards`);
    domain.config = apply(domain.config);
    if (domain.live) domain.live = apply(domain.live);
    return { config: true, live: domain.live !== undefined };
  }
}
