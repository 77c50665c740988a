import { execFile } from 'node:child_process';
import { LIBVIRT_URI } from './hypervisor';

/**
 * The test's own way into a guest: the QEMU guest agent, driven with `virsh qemu-agent-command`
 * (never a connection to the guest's private address; see the traffic rules of issue 14). Async,
 * so a test polling a guest never blocks the api running in the same process.
 */

export interface AgentExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Sends one agent command to `limen-<vmId>` and resolves with its `return` value. `uri`: the
 * libvirtd holding the domain (a remote host's qemu+tcp:// works too: libvirt relays the agent).
 */
export function agentCommand<T = unknown>(
  vmId: string,
  command: { execute: string; arguments?: Record<string, unknown> },
  timeoutSeconds = 10,
  uri = LIBVIRT_URI,
): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      'virsh',
      ['-c', uri, 'qemu-agent-command', '--timeout', String(timeoutSeconds), `limen-${vmId}`, JSON.stringify(command)],
      { encoding: 'utf8', timeout: (timeoutSeconds + 10) * 1000 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`${command.execute} on limen-${vmId}: ${stderr.trim() || error.message}`));
        try {
          resolve((JSON.parse(stdout) as { return: T }).return);
        } catch {
          reject(new Error(`${command.execute} on limen-${vmId}: unexpected answer ${JSON.stringify(stdout)}`));
        }
      },
    );
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once the guest's agent answers `guest-ping`; throws after `timeoutMs` (or once `signal` aborts). */
export async function waitForAgent(
  vmId: string,
  timeoutMs: number,
  signal?: AbortSignal,
  uri = LIBVIRT_URI,
): Promise<number> {
  const started = Date.now();
  let last = '';
  while (Date.now() - started < timeoutMs && !signal?.aborted) {
    try {
      await agentCommand(vmId, { execute: 'guest-ping' }, 5, uri);
      return Date.now() - started;
    } catch (error) {
      last = (error as Error).message;
      await sleep(2000);
    }
  }
  throw new Error(`the guest agent of ${vmId} did not answer within ${timeoutMs} ms (last: ${last})`);
}

/**
 * Runs `path args…` in the guest (guest-exec, no shell) and waits for it to exit, polling
 * guest-exec-status. Output is decoded from the agent's base64.
 */
export async function guestExec(
  vmId: string,
  path: string,
  args: string[],
  timeoutMs = 30_000,
  uri = LIBVIRT_URI,
): Promise<AgentExecResult> {
  const { pid } = await agentCommand<{ pid: number }>(
    vmId,
    { execute: 'guest-exec', arguments: { path, arg: args, 'capture-output': true } },
    10,
    uri,
  );
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await agentCommand<{
      exited: boolean;
      exitcode?: number;
      signal?: number;
      'out-data'?: string;
      'err-data'?: string;
    }>(vmId, { execute: 'guest-exec-status', arguments: { pid } }, 10, uri);
    if (status.exited)
      return {
        exitCode: status.exitcode ?? 128 + (status.signal ?? 0),
        stdout: Buffer.from(status['out-data'] ?? '', 'base64').toString('utf8'),
        stderr: Buffer.from(status['err-data'] ?? '', 'base64').toString('utf8'),
      };
    if (Date.now() > deadline)
      throw new Error(`${path} ${args.join(' ')} in ${vmId} still running after ${timeoutMs} ms`);
    await sleep(300);
  }
}

/** One interface of `ip -j addr` (iproute2's JSON). */
export interface GuestLink {
  ifname: string;
  address?: string;
  operstate?: string;
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}

/** The guest's interfaces with their addresses, as `ip -j addr` prints them. */
export async function guestLinks(vmId: string, what: 'addr' | 'link' = 'addr'): Promise<GuestLink[]> {
  const result = await guestExec(vmId, '/bin/ip', ['-j', what]);
  if (result.exitCode !== 0) throw new Error(`ip -j ${what} in ${vmId} exited ${result.exitCode}: ${result.stderr}`);
  return JSON.parse(result.stdout) as GuestLink[];
}

/** The IPv4 addresses the guest has on the interface with this MAC. */
export function ipv4Of(links: GuestLink[], mac: string): string[] {
  const link = links.find((l) => l.address?.toLowerCase() === mac.toLowerCase());
  return (link?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local);
}
