import { LIMEN_BRIDGE_PREFIX } from '../naming/network-name';
import { isIpv4, normaliseCidr } from '../networks/ipv4';
import { runProcess } from '../transport/process-runner';

interface IpRoute {
  dst?: string;
  dev?: string;
  type?: string;
}

interface IpLink {
  ifname?: string;
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}

export interface HostRouteOptions {
  /** Runs `ip` (tests pass a stand-in). */
  ip?: (args: string[]) => Promise<string>;
  /**
   * Devices whose routes and addresses are left out. Default: the bridges of LIMEN's own networks
   * (`lnbr-…`), whose subnets the api knows as networks already.
   */
  ignoreDevice?: (device: string) => boolean;
}

async function runIp(args: string[]): Promise<string> {
  return (await runProcess('ip', args, { timeoutMs: 10_000 })).stdout;
}

/**
 * The IPv4 subnets this machine reaches directly or routes to, as network CIDRs (host bits cleared,
 * sorted, no duplicates): the main routing table (`ip -j -4 route`) without the default route, and
 * the subnet of every address on an interface (`ip -j -4 addr`). Both adapters answer
 * listHostRoutes with it, for the overlap check of a new network.
 */
export async function readHostRoutes(options: HostRouteOptions = {}): Promise<string[]> {
  const ip = options.ip ?? runIp;
  const ignore = options.ignoreDevice ?? ((device: string) => device.startsWith(LIMEN_BRIDGE_PREFIX));
  const [routesJson, linksJson] = await Promise.all([
    ip(['-j', '-4', 'route', 'show']),
    ip(['-j', '-4', 'addr', 'show']),
  ]);
  const cidrs = new Set<string>();
  for (const route of parseJsonList<IpRoute>(routesJson)) {
    if (!route.dst || route.dst === 'default' || (route.dev && ignore(route.dev))) continue;
    if (route.type && route.type !== 'unicast') continue;
    const [address, prefix] = route.dst.split('/');
    const bits = prefix === undefined ? 32 : Number(prefix);
    if (isIpv4(address) && Number.isInteger(bits) && bits >= 0 && bits <= 32) cidrs.add(normaliseCidr(address, bits));
  }
  for (const link of parseJsonList<IpLink>(linksJson)) {
    if (link.ifname && ignore(link.ifname)) continue;
    for (const address of link.addr_info ?? []) {
      if (address.family !== 'inet' || !isIpv4(address.local) || address.prefixlen === undefined) continue;
      cidrs.add(normaliseCidr(address.local, address.prefixlen));
    }
  }
  return [...cidrs].sort(compareCidrs);
}

function parseJsonList<T>(text: string): T[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  const value = JSON.parse(trimmed) as unknown;
  return Array.isArray(value) ? (value as T[]) : [];
}

function compareCidrs(a: string, b: string): number {
  const key = (cidr: string) => {
    const [address, prefix] = cidr.split('/');
    return [...address.split('.').map(Number), Number(prefix)];
  };
  const [ka, kb] = [key(a), key(b)];
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
  return 0;
}
