import { HypervisorError } from '../../errors/hypervisor-error';
import { domainNameFor } from '../../naming/domain-name';
import { VirshPool } from '../../transport/virsh-pool';

/**
 * QMP for libvirt-managed domains. libvirt owns the monitor socket, so commands go through
 * `virsh qemu-monitor-command`; use it only where libvirt has no command of its own (libvirt
 * marks the domain "tainted" because it cannot track what such commands change).
 */
export class LibvirtQmp {
  constructor(private readonly pool: VirshPool) {}

  async execute<T = unknown>(vmId: string, command: string, args?: Record<string, unknown>): Promise<T> {
    const request = JSON.stringify(args ? { execute: command, arguments: args } : { execute: command });
    const output = await this.pool.run({
      name: 'qemu-monitor-command',
      options: { domain: domainNameFor(vmId), cmd: request },
    });
    const reply = JSON.parse(output) as { return?: T; error?: { class: string; desc: string } };
    if (reply.error)
      throw new HypervisorError('OPERATION_FAILED', `QMP ${command}: ${reply.error.desc}`, reply.error.class);
    return reply.return as T;
  }

  /** Human monitor command through QMP (e.g. `info snapshots`); returns its text output. */
  humanMonitor(vmId: string, commandLine: string): Promise<string> {
    return this.execute<string>(vmId, 'human-monitor-command', { 'command-line': commandLine });
  }
}
