import { HypervisorError } from '../../errors/hypervisor-error';
import { AddressSource, GuestExecResult, GuestInfo, InterfaceAddress } from '../../models';
import { domainNameFor } from '../../naming/domain-name';
import { VirshPool } from '../../transport/virsh-pool';

const ADDRESS_SOURCES: readonly AddressSource[] = ['lease', 'agent', 'arp'];
// ` vnet0      52:54:00:6b:3c:58    ipv4         192.168.122.5/24` (with --full every line has name and MAC).
const ADDRESS_LINE = /^\s*(\S+)\s+([0-9a-f]{2}(?::[0-9a-f]{2}){5})\s+(ipv4|ipv6)\s+([0-9a-f.:]+)\/(\d+)\s*$/i;

/** Loopback and link-local addresses say nothing about how to reach a guest. */
function isLocalOnly(ip: string, family: 'ipv4' | 'ipv6'): boolean {
  if (family === 'ipv4') return ip.startsWith('127.') || ip.startsWith('169.254.');
  const lower = ip.toLowerCase();
  return lower === '::1' || /^fe[89ab]/.test(lower);
}

/** `domifaddr --full` output; `withNames`: the names are the guest's (agent), not host tap devices. */
export function parseDomifaddr(output: string, withNames: boolean): InterfaceAddress[] {
  return output.split('\n').flatMap((line) => {
    const match = ADDRESS_LINE.exec(line);
    if (!match) return [];
    const [, name, mac, protocol, ip, prefix] = match;
    const family = protocol.toLowerCase() as 'ipv4' | 'ipv6';
    if (name === 'lo' || /^0{2}(:0{2}){5}$/.test(mac) || isLocalOnly(ip, family)) return [];
    return [{ mac: mac.toLowerCase(), ip, prefix: Number(prefix), family, ...(withNames ? { name } : {}) }];
  });
}

interface AgentReply<T> {
  return?: T;
  error?: { class?: string; desc?: string };
}

interface ExecStatus {
  exited: boolean;
  exitcode?: number;
  signal?: number;
  'out-data'?: string;
  'err-data'?: string;
}

export interface GuestExecOptions {
  timeoutMs?: number;
  input?: string;
}

/** The QEMU guest agent of libvirt domains (through qemu-agent-command and libvirt's own agent commands). */
export class LibvirtGuestAgent {
  constructor(
    private readonly pool: VirshPool,
    private readonly pollIntervalMs = 200,
  ) {}

  /** Empty when the domain is not running (libvirt: "domain is not running"). */
  async interfaceAddresses(vmId: string, source: AddressSource): Promise<InterfaceAddress[]> {
    if (!ADDRESS_SOURCES.includes(source))
      throw new HypervisorError('INVALID_ARGUMENT', 'source must be lease, agent or arp');
    try {
      const output = await this.pool.run({
        name: 'domifaddr',
        options: { domain: domainNameFor(vmId), source },
        flags: ['full'],
      });
      return parseDomifaddr(output, source === 'agent');
    } catch (error) {
      if (HypervisorError.is(error, 'INVALID_STATE')) return [];
      throw error;
    }
  }

  async guestInfo(vmId: string): Promise<GuestInfo> {
    const os = await this.command<Record<string, string | undefined>>(vmId, 'guest-get-osinfo');
    const host = await this.command<{ 'host-name'?: string }>(vmId, 'guest-get-host-name').catch((error: unknown) => {
      if (HypervisorError.is(error, 'GUEST_AGENT_UNAVAILABLE')) throw error;
      return {} as { 'host-name'?: string };
    });
    return {
      os: {
        name: os.name ?? os.id ?? 'unknown',
        version: os.version ?? os['version-id'] ?? '',
        kernel: os['kernel-release'] ?? '',
      },
      ...(host['host-name'] ? { hostname: host['host-name'] } : {}),
    };
  }

  /** guest-exec with captured output, then guest-exec-status until the program exited. */
  async exec(vmId: string, command: string[], options: GuestExecOptions = {}): Promise<GuestExecResult> {
    if (!Array.isArray(command) || command.length === 0 || command.some((arg) => typeof arg !== 'string'))
      throw new HypervisorError('INVALID_ARGUMENT', 'command must be a non-empty list of strings');
    const timeoutMs = options.timeoutMs ?? 30_000;
    const { pid } = await this.command<{ pid: number }>(vmId, 'guest-exec', {
      path: command[0],
      arg: command.slice(1),
      'capture-output': true,
      ...(options.input !== undefined ? { 'input-data': Buffer.from(options.input, 'utf8').toString('base64') } : {}),
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.command<ExecStatus>(vmId, 'guest-exec-status', { pid });
      if (status.exited) {
        const decode = (data?: string) => (data ? Buffer.from(data, 'base64').toString('utf8') : '');
        return {
          exitCode: status.exitcode ?? (status.signal !== undefined ? 128 + status.signal : -1),
          stdout: decode(status['out-data']),
          stderr: decode(status['err-data']),
        };
      }
      if (Date.now() >= deadline)
        throw new HypervisorError('TIMEOUT', `${command[0]} did not exit within ${timeoutMs} ms in the guest`);
      await new Promise((resolve) => setTimeout(resolve, this.pollIntervalMs));
    }
  }

  /**
   * The agent's own fsfreeze commands, which answer with the number of filesystems as JSON: virsh
   * domfsfreeze prints a sentence whose count read 0 through the interactive session in CI.
   */
  freeze(vmId: string, thaw: boolean): Promise<number> {
    return this.command<number>(vmId, thaw ? 'guest-fsfreeze-thaw' : 'guest-fsfreeze-freeze');
  }

  /** A stopped domain has no agent to answer: GUEST_AGENT_UNAVAILABLE, as when its agent is silent. */
  private async agentCall(vmId: string, command: string, options: Record<string, string>): Promise<string> {
    const domain = domainNameFor(vmId);
    try {
      return await this.pool.run({ name: command, options: { domain, ...options } });
    } catch (error) {
      if (!HypervisorError.is(error, 'INVALID_STATE')) throw error;
      throw new HypervisorError(
        'GUEST_AGENT_UNAVAILABLE',
        `domain ${domain} is not running: no guest agent`,
        error.detail,
      );
    }
  }

  private async command<T>(vmId: string, execute: string, args?: Record<string, unknown>): Promise<T> {
    const request = JSON.stringify(args ? { execute, arguments: args } : { execute });
    const output = await this.agentCall(vmId, 'qemu-agent-command', { cmd: request });
    let reply: AgentReply<T>;
    try {
      reply = JSON.parse(output) as AgentReply<T>;
    } catch {
      throw new HypervisorError('OPERATION_FAILED', `${execute}: the guest agent answered no JSON`, output);
    }
    if (reply.error) {
      const desc = reply.error.desc ?? 'failed';
      throw new HypervisorError('OPERATION_FAILED', `guest agent ${execute}: ${desc}`, reply.error.class);
    }
    return reply.return as T;
  }
}
