import { Subject } from 'rxjs';
import { HypervisorError } from '../errors/hypervisor-error';
import { DomainEvent, LifecycleEventType, ShutoffReason } from '../models';
import { domainNameFor } from '../naming/domain-name';
import { FakeConsoles } from './fake-consoles';
import { FakeDomain } from './fake-domain';
import { FakeFileSystem } from './fake-file-system';

/**
 * The simulated QEMU and guest of the fake's domains: boots (the guest writes `bootOutput` to its
 * serial port at once), resets, power-offs, and the events libvirt reports for each.
 */
export class FakePower {
  readonly events = new Subject<DomainEvent>();

  constructor(
    private readonly files: FakeFileSystem,
    private readonly consoles: FakeConsoles,
    private readonly bootOutput: string,
  ) {}

  /** QEMU starts from the persistent definition; it cannot open storage that is not there. */
  boot(domain: FakeDomain, detail: string): void {
    const spec = domain.config;
    const storage = [...spec.disks.map((disk) => disk.path), spec.seedIsoPath, spec.cdrom?.isoPath];
    const missing = storage.find((path) => path !== undefined && !this.files.file(path));
    if (missing)
      throw new HypervisorError(
        'OPERATION_FAILED',
        `Cannot access storage file '${missing}': No such file or directory`,
      );
    domain.live = structuredClone(spec);
    domain.state = 'running';
    domain.shutoffReason = undefined;
    domain.startedAt = Date.now();
    this.lifecycle(spec.vmId, 'started', detail);
    this.guestWrites(domain, this.bootOutput);
    if (domain.agent && spec.guestAgent !== false) this.agentConnects(domain, true);
  }

  /** The guest agent (dis)connects: libvirt reports it as an agent-lifecycle event. */
  agentConnects(domain: FakeDomain, connected: boolean): void {
    domain.agentConnected = connected;
    domain.frozenFilesystems = undefined;
    const { vmId } = domain.config;
    const detail = connected ? 'connected' : 'disconnected';
    this.events.next({
      kind: 'other',
      domainName: domainNameFor(vmId),
      vmId,
      name: 'agent-lifecycle',
      detail,
      timestamp: new Date(),
    });
  }

  /** A reset or a guest reboot: same QEMU, the guest boots again. */
  restart(domain: FakeDomain): void {
    const { vmId } = domain.config;
    this.events.next({
      kind: 'other',
      domainName: domainNameFor(vmId),
      vmId,
      name: 'reboot',
      detail: '',
      timestamp: new Date(),
    });
    this.guestWrites(domain, this.bootOutput);
  }

  /** QEMU is gone: shut off with `reason`, consoles closed, and a `stopped` event with `detail`. */
  powerOff(domain: FakeDomain, reason: ShutoffReason, detail: string): void {
    domain.state = 'shutoff';
    domain.shutoffReason = reason;
    domain.live = undefined;
    domain.startedAt = undefined;
    domain.agentConnected = false;
    domain.frozenFilesystems = undefined;
    this.consoles.endAll(domain.config.vmId);
    this.lifecycle(domain.config.vmId, 'stopped', detail);
  }

  /** What the guest writes to its serial port: the log file and every open serial console get it. */
  guestWrites(domain: FakeDomain, text: string): void {
    if (!text) return;
    this.files.append(domain.config.serialLogPath, Buffer.from(text, 'utf8'));
    this.consoles.output(domain.config.vmId, text);
  }

  lifecycle(vmId: string, type: LifecycleEventType, detail: string): void {
    this.events.next({ kind: 'lifecycle', domainName: domainNameFor(vmId), vmId, type, detail, timestamp: new Date() });
  }
}
