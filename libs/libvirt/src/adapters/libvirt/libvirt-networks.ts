import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HypervisorError } from '../../errors/hypervisor-error';
import { withScratchDir } from '../../host/scratch-dir';
import { DhcpLease, NetworkDefinition, NetworkInfo } from '../../models';
import {
  assertHostBridgeName,
  assertNetworkName,
  LIMEN_BRIDGE_PREFIX,
  NETWORK_NAME_PREFIX,
} from '../../naming/network-name';
import { isIpv4 } from '../../networks/ipv4';
import { readHostRoutes } from '../../host/host-routes';
import { validateNetworkDefinition } from '../../networks/network-validation';
import { LibLogger } from '../../transport/logger';
import { VirshPool } from '../../transport/virsh-pool';
import { parseDomainXml } from '../../xml/domain-xml-parser';
import { asNetworkDefinition, buildNetworkXml, ParsedNetwork, parseNetworkXml } from '../../xml/network-xml';

const LEASE_LINE =
  /^\s*(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+([0-9a-f]{2}(?::[0-9a-f]{2}){5})\s+ipv4\s+([0-9.]+)\/(\d+)\s+(\S+)/i;

function sameDefinition(a: NetworkDefinition, b: NetworkDefinition): boolean {
  const keys: Array<keyof NetworkDefinition> = ['name', 'kind', 'bridge', 'cidr', 'gateway', 'dhcpStart', 'dhcpEnd'];
  return keys.every((key) => a[key] === b[key]);
}

function lines(output: string): string[] {
  return output
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

/** `net-dhcp-leases` output: expiry (host local time), MAC, address/prefix and hostname (`-` for none). */
export function parseDhcpLeases(output: string): DhcpLease[] {
  return output.split('\n').flatMap((line) => {
    const match = LEASE_LINE.exec(line);
    if (!match || !isIpv4(match[3])) return [];
    const [, expiry, mac, ip, prefix, hostname] = match;
    const expiresAt = new Date(expiry.replace(' ', 'T'));
    return [
      {
        mac: mac.toLowerCase(),
        ip,
        prefix: Number(prefix),
        ...(hostname !== '-' ? { hostname } : {}),
        ...(Number.isNaN(expiresAt.getTime()) ? {} : { expiresAt }),
      },
    ];
  });
}

/** The libvirt networks LIMEN manages on one host, and what the host has around them. */
export class LibvirtNetworks {
  constructor(
    private readonly pool: VirshPool,
    private readonly local: boolean,
    private readonly logger: LibLogger,
  ) {}

  /** Defines, starts and autostarts the network unless an identical one is there already. */
  async ensure(definition: NetworkDefinition): Promise<NetworkInfo> {
    validateNetworkDefinition(definition);
    const parsed = await this.read(definition.name);
    const existing = parsed ? asNetworkDefinition(parsed) : undefined;
    if (parsed && (!existing || !sameDefinition(existing, definition)))
      throw new HypervisorError('NETWORK_CONFLICT', `network ${definition.name} exists with another definition`);
    if (!existing) {
      await withScratchDir(async (dir) => {
        const file = join(dir, 'network.xml');
        await writeFile(file, buildNetworkXml(definition), { mode: 0o600 });
        await this.pool.run({ name: 'net-define', options: { file }, flags: ['validate'] });
      });
    }
    const network = { network: definition.name };
    if (!(await this.activeNames()).has(definition.name)) {
      try {
        await this.pool.run({ name: 'net-start', options: network });
      } catch (error) {
        // Nothing half-made stays behind: a network libvirt cannot start (its subnet is in use) goes again.
        if (!parsed) await this.pool.run({ name: 'net-undefine', options: network }).catch(() => undefined);
        throw error;
      }
    }
    await this.pool.run({ name: 'net-autostart', options: network });
    return { ...definition, active: true };
  }

  /** Idempotent; NETWORK_IN_USE while a running domain has a NIC on it (libvirt would destroy it anyway). */
  async remove(name: string): Promise<void> {
    assertNetworkName(name);
    if (!(await this.allNames()).has(name)) return;
    const user = await this.runningDomainOn(name);
    if (user) throw new HypervisorError('NETWORK_IN_USE', `network ${name} is used by the running domain ${user}`);
    if ((await this.activeNames()).has(name))
      await this.ignoreMissing(this.pool.run({ name: 'net-destroy', options: { network: name } }));
    await this.ignoreMissing(this.pool.run({ name: 'net-undefine', options: { network: name } }));
  }

  async list(): Promise<NetworkInfo[]> {
    const [all, active] = await Promise.all([this.allNames(), this.activeNames()]);
    const names = [...all].filter((name) => name.startsWith(NETWORK_NAME_PREFIX));
    const networks = await Promise.all(names.map(async (name) => this.read(name)));
    return networks.flatMap((parsed) => {
      const network = parsed ? asNetworkDefinition(parsed) : undefined;
      return network ? [{ ...network, active: active.has(network.name) }] : [];
    });
  }

  /** Local hosts: the kernel's IPv4 routes and interface subnets, LIMEN's own bridges left out. Remote: none. */
  async hostRoutes(): Promise<string[]> {
    if (!this.local) return [];
    const own = new Set((await this.list()).map((network) => network.bridge));
    return readHostRoutes({ ignoreDevice: (dev) => own.has(dev) || dev.startsWith(LIMEN_BRIDGE_PREFIX) });
  }

  async hasBridge(name: string): Promise<boolean> {
    assertHostBridgeName(name);
    if (this.local) return existsSync(`/sys/class/net/${name}/bridge`);
    try {
      const xml = await this.pool.run({ name: 'iface-dumpxml', options: { interface: name } });
      return /<interface[^>]*type=['"]bridge['"]/.test(xml);
    } catch (error) {
      if (HypervisorError.is(error, 'HYPERVISOR_UNAVAILABLE')) throw error;
      this.logger.warn(`iface-dumpxml ${name}: ${(error as Error).message}`);
      return false;
    }
  }

  /** Leases of a network; none for a network that is not there. */
  async leases(name: string): Promise<DhcpLease[]> {
    assertNetworkName(name);
    if (!(await this.activeNames()).has(name)) return [];
    return parseDhcpLeases(await this.pool.run({ name: 'net-dhcp-leases', options: { network: name } }));
  }

  /** The persistent definition of a network, undefined when there is none of that name. */
  private async read(name: string): Promise<ParsedNetwork | undefined> {
    try {
      return parseNetworkXml(
        await this.pool.run({ name: 'net-dumpxml', options: { network: name }, flags: ['inactive'] }),
      );
    } catch (error) {
      if (HypervisorError.is(error, 'INVALID_ARGUMENT')) return undefined; // "Network not found"
      throw error;
    }
  }

  private async allNames(): Promise<Set<string>> {
    return new Set(lines(await this.pool.run({ name: 'net-list', flags: ['all', 'name'] })));
  }

  private async activeNames(): Promise<Set<string>> {
    return new Set(lines(await this.pool.run({ name: 'net-list', flags: ['name'] })));
  }

  private async runningDomainOn(network: string): Promise<string | undefined> {
    const names = lines(await this.pool.run({ name: 'list', flags: ['state-running', 'state-paused', 'name'] }));
    // Any running domain counts, LIMEN's or not: destroying the network would cut it off.
    for (const domain of names) {
      try {
        const parsed = parseDomainXml(await this.pool.run({ name: 'dumpxml', options: { domain } }));
        if (parsed.nics.some((nic) => nic.attachment.type === 'network' && nic.attachment.network === network))
          return domain;
      } catch (error) {
        if (!HypervisorError.is(error, 'DOMAIN_NOT_FOUND')) throw error;
      }
    }
    return undefined;
  }

  private async ignoreMissing(command: Promise<string>): Promise<void> {
    try {
      await command;
    } catch (error) {
      // Gone or stopped in between (another api instance removing it too).
      if (!HypervisorError.is(error, 'INVALID_ARGUMENT') && !HypervisorError.is(error, 'INVALID_STATE')) throw error;
    }
  }
}
