import { Observable, Subject } from 'rxjs';
import { HypervisorError } from '../../errors/hypervisor-error';
import { GuestExecResult, GuestInfo, InterfaceAddress } from '../../models';
import { GuestAgentClient } from './guest-agent-client';

export interface GuestAgentOptions {
  /** How long an agent gets to answer the resync before it counts as not there. Default 3 s. */
  answerTimeoutMs?: number;
  /** How old a known state may get before getDomain asks the agent again (guest-ping). Default 30 s. */
  staleAfterMs?: number;
  /** First interval between guest-exec-status polls (it doubles up to 1 s). Default 50 ms. */
  execPollMs?: number;
}

export interface AgentStateChange {
  vmId: string;
  connected: boolean;
}

interface KnownState {
  connected: boolean;
  at: number;
}

interface OsInfo {
  name?: string;
  'pretty-name'?: string;
  id?: string;
  version?: string;
  'version-id'?: string;
  'kernel-release'?: string;
}

interface AgentInterface {
  name: string;
  'hardware-address'?: string;
  'ip-addresses'?: Array<{ 'ip-address-type': 'ipv4' | 'ipv6'; 'ip-address': string; prefix: number }>;
}

interface ExecStatus {
  exited: boolean;
  exitcode?: number;
  signal?: number;
  'out-data'?: string;
  'err-data'?: string;
}

const NO_MAC = /^(00:){5}00$/;

/**
 * The guest agents of qemu-direct's domains, each reached through its chardev socket. Calls to
 * one agent are serialised (QEMU serves one client per socket) and each opens its own connection.
 * Whether an agent is connected is known from QEMU's VSERPORT_CHANGE events and from the outcome
 * of every call; a state older than `staleAfterMs` is refreshed by a guest-ping in the background.
 */
export class GuestAgents {
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly known = new Map<string, KnownState>();
  private readonly refreshing = new Set<string>();
  private readonly changes = new Subject<AgentStateChange>();
  private readonly answerTimeoutMs: number;
  private readonly staleAfterMs: number;

  constructor(private readonly options: GuestAgentOptions = {}) {
    this.answerTimeoutMs = options.answerTimeoutMs ?? 3_000;
    this.staleAfterMs = options.staleAfterMs ?? 30_000;
  }

  /** Every change of an agent's connection (the adapter turns them into agent-lifecycle events). */
  get changes$(): Observable<AgentStateChange> {
    return this.changes.asObservable();
  }

  /**
   * The cached state; refreshes a stale one in the background (never waits for the guest) unless
   * `refresh` is false (a paused guest cannot answer: asking would only mark it disconnected).
   */
  isConnected(vmId: string, socketPath: string, refresh = true): boolean {
    if (!refresh) return this.known.get(vmId)?.connected ?? false;
    const known = this.known.get(vmId);
    if ((!known || Date.now() - known.at > this.staleAfterMs) && !this.refreshing.has(vmId)) {
      this.refreshing.add(vmId);
      void this.call(vmId, socketPath, (client) => client.execute('guest-ping', undefined, this.answerTimeoutMs))
        .catch(() => undefined)
        .finally(() => this.refreshing.delete(vmId));
    }
    return known?.connected ?? false;
  }

  /** QEMU's word: the guest opened (agent started) or closed the agent's port. */
  portChanged(vmId: string, open: boolean): void {
    this.record(vmId, open);
  }

  /** The domain stopped: its agent is gone with it. */
  forget(vmId: string): void {
    this.record(vmId, false);
    this.known.delete(vmId);
  }

  async info(vmId: string, socketPath: string): Promise<GuestInfo> {
    return this.call(vmId, socketPath, async (client) => {
      const os = await client.execute<OsInfo>('guest-get-osinfo');
      const host = await client.execute<{ 'host-name'?: string }>('guest-get-host-name').catch(() => undefined);
      return {
        os: {
          name: os.name ?? os['pretty-name'] ?? os.id ?? 'unknown',
          version: os.version ?? os['version-id'] ?? '',
          kernel: os['kernel-release'] ?? '',
        },
        ...(host?.['host-name'] ? { hostname: host['host-name'] } : {}),
      };
    });
  }

  /** The guest's addresses by interface, loopback and interfaces without a MAC left out. */
  async addresses(vmId: string, socketPath: string): Promise<InterfaceAddress[]> {
    const interfaces = await this.call(vmId, socketPath, (client) =>
      client.execute<AgentInterface[]>('guest-network-get-interfaces'),
    );
    return interfaces.flatMap((nic) => {
      const mac = nic['hardware-address']?.toLowerCase();
      if (nic.name === 'lo' || !mac || NO_MAC.test(mac)) return [];
      return (nic['ip-addresses'] ?? []).map((address) => ({
        mac,
        ip: address['ip-address'],
        prefix: address.prefix,
        family: address['ip-address-type'],
        name: nic.name,
      }));
    });
  }

  freeze(vmId: string, socketPath: string): Promise<number> {
    return this.call(vmId, socketPath, (client) => client.execute<number>('guest-fsfreeze-freeze', undefined, 120_000));
  }

  thaw(vmId: string, socketPath: string): Promise<number> {
    return this.call(vmId, socketPath, (client) => client.execute<number>('guest-fsfreeze-thaw', undefined, 120_000));
  }

  /** guest-exec, then guest-exec-status until the program exits; TIMEOUT after `timeoutMs`. */
  async exec(
    vmId: string,
    socketPath: string,
    command: string[],
    options: { timeoutMs?: number; input?: string } = {},
  ): Promise<GuestExecResult> {
    assertCommand(command);
    const timeoutMs = options.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    const started = await this.call(vmId, socketPath, (client) =>
      client.execute<{ pid: number }>('guest-exec', {
        path: command[0],
        arg: command.slice(1),
        'capture-output': true,
        ...(options.input !== undefined ? { 'input-data': Buffer.from(options.input).toString('base64') } : {}),
      }),
    );
    let interval = this.options.execPollMs ?? 50;
    for (;;) {
      const status = await this.call(vmId, socketPath, (client) =>
        client.execute<ExecStatus>('guest-exec-status', { pid: started.pid }),
      );
      if (status.exited) return execResult(status);
      if (Date.now() + interval > deadline) {
        throw new HypervisorError('TIMEOUT', `${command[0]} did not finish in the guest within ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, interval));
      interval = Math.min(interval * 2, 1_000);
    }
  }

  /** Runs `work` on a fresh connection once the agent's earlier calls are done. */
  private call<T>(vmId: string, socketPath: string, work: (client: GuestAgentClient) => Promise<T>): Promise<T> {
    const previous = this.queues.get(vmId) ?? Promise.resolve();
    const result = previous.catch(() => undefined).then(() => this.withClient(vmId, socketPath, work));
    const settled = result.catch(() => undefined);
    this.queues.set(vmId, settled);
    void settled.then(() => {
      if (this.queues.get(vmId) === settled) this.queues.delete(vmId);
    });
    return result;
  }

  private async withClient<T>(vmId: string, socketPath: string, work: (client: GuestAgentClient) => Promise<T>) {
    let client: GuestAgentClient;
    try {
      client = await GuestAgentClient.open(socketPath, this.answerTimeoutMs);
    } catch (error) {
      this.record(vmId, false);
      throw error;
    }
    // It answered the resync: connected, whatever the command itself then says.
    this.record(vmId, true);
    try {
      return await work(client);
    } finally {
      client.close();
    }
  }

  private record(vmId: string, connected: boolean): void {
    const before = this.known.get(vmId)?.connected ?? false;
    this.known.set(vmId, { connected, at: Date.now() });
    if (before !== connected) this.changes.next({ vmId, connected });
  }
}

function assertCommand(command: string[]): void {
  if (
    !Array.isArray(command) ||
    command.length === 0 ||
    !command[0] ||
    command.some((part) => typeof part !== 'string' || part.includes('\0'))
  ) {
    throw new HypervisorError('INVALID_ARGUMENT', 'a guest command is a non-empty list of strings without NUL');
  }
}

function execResult(status: ExecStatus): GuestExecResult {
  const decode = (data?: string) => (data ? Buffer.from(data, 'base64').toString('utf8') : '');
  const exitCode = status.exitcode ?? (status.signal !== undefined ? 128 + status.signal : -1);
  return { exitCode, stdout: decode(status['out-data']), stderr: decode(status['err-data']) };
}
