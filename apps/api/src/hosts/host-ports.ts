import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { createVirtualizationPort, HypervisorError, VIRTUALIZATION_PORT, VirtualizationPort } from '@limen/libvirt';
import { ReplaySubject } from 'rxjs';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { Host } from './host.entity';
import { HostRepository } from './host.repository';

export interface HostPort {
  host: Host;
  port: VirtualizationPort;
}

/**
 * The way to reach the hypervisor that holds a VM. The local host uses the
 * port built from configuration (LibvirtModule); every other registered host
 * gets its own adapter, created on first use and kept until the host changes.
 * Host rows are cached here (`reload` after every change), so lookups are synchronous.
 */
@Injectable()
export class HostPorts implements OnApplicationShutdown {
  private readonly hosts = new Map<string, Host>();
  private readonly remote = new Map<string, { signature: string; port: VirtualizationPort }>();
  private localHostId: string | null = null;
  /** Every remote port put into use (replayed to late subscribers), so the reconciler can follow its events. */
  readonly opened$ = new ReplaySubject<HostPort>();

  constructor(
    @Inject(VIRTUALIZATION_PORT) private readonly local: VirtualizationPort,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly rows: HostRepository,
  ) {}

  /** Reads the host rows again; the local host is the one named HOST_NAME. */
  async reload(): Promise<void> {
    const hosts = await this.rows.all();
    this.refresh(hosts, hosts.find((h) => h.name === this.config.hostName)?.id ?? '');
  }

  /** Replaces the cached host rows; ports of removed or reconfigured hosts are closed. */
  private refresh(hosts: Host[], localHostId: string): void {
    this.localHostId = localHostId;
    this.hosts.clear();
    for (const host of hosts) this.hosts.set(host.id, host);
    for (const [id, entry] of this.remote) {
      const host = this.hosts.get(id);
      if (!host || signatureOf(host) !== entry.signature) {
        this.remote.delete(id);
        void entry.port.close();
      }
    }
  }

  /** The cached row of a host. */
  host(hostId: string): Host | undefined {
    return this.hosts.get(hostId);
  }

  get localId(): string | null {
    return this.localHostId;
  }

  /** The port built from configuration, used for this machine's host. */
  get localPort(): VirtualizationPort {
    return this.local;
  }

  forVm(vm: { hostId: string | null }): VirtualizationPort {
    return vm.hostId ? this.forHost(vm.hostId) : this.local;
  }

  forHost(hostId: string): VirtualizationPort {
    if (hostId === this.localHostId) return this.local;
    const existing = this.remote.get(hostId);
    if (existing) return existing.port;
    const host = this.hosts.get(hostId);
    if (!host)
      throw new HypervisorError('HYPERVISOR_UNAVAILABLE', "The VM's host is not known to this api process yet");
    const port = createVirtualizationPort({
      adapter: host.adapter,
      uri: host.libvirtUri ?? undefined,
      stateDir: host.stateDir ?? undefined,
      virtType: this.config.hypervisor.virtType,
      onCommand: (command, seconds, ok) => this.metrics.virshDuration.observe({ command, ok: String(ok) }, seconds),
    });
    this.remote.set(hostId, { signature: signatureOf(host), port });
    this.opened$.next({ host, port });
    return port;
  }

  /** Every enabled host with its port (created if needed). */
  enabled(): HostPort[] {
    return [...this.hosts.values()].filter((h) => h.enabled).map((host) => ({ host, port: this.forHost(host.id) }));
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.remote.values()].map((entry) => entry.port.close()));
    this.remote.clear();
  }
}

function signatureOf(host: Host): string {
  return `${host.adapter}|${host.libvirtUri ?? ''}|${host.stateDir ?? ''}`;
}
