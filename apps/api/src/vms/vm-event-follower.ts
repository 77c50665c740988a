import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DomainEvent, LifecycleEvent, VirtualizationPort } from '@limen/libvirt';
import { Subscription } from 'rxjs';
import { HostPorts } from '../hosts/host-ports';
import { MetricsService } from '../metrics/metrics.service';
import { VmReconciler } from './vm-reconciler';
import { TRANSITIONAL_STATES, VmState } from './vm-state';
import { VmStateWriter } from './vm-state-writer';

function stateFromLifecycle(event: LifecycleEvent): VmState | null {
  switch (event.type) {
    case 'started':
    case 'resumed':
      return 'running';
    case 'suspended':
    case 'pmsuspended':
      return 'paused';
    case 'crashed':
      return 'crashed';
    case 'stopped':
      return event.detail === 'crashed' || event.detail === 'failed' ? 'crashed' : 'stopped';
    case 'undefined':
      return 'missing';
    default:
      return null;
  }
}

/**
 * Applies every host's hypervisor lifecycle events to VM state as they arrive (on every replica),
 * leaving VMs an operation owns to it. When a host's event stream says events may have been
 * missed, the reconciler sweeps.
 */
@Injectable()
export class VmEventFollower implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Reconciler');
  private readonly subscriptions = new Subscription();

  constructor(
    private readonly hostPorts: HostPorts,
    private readonly stateWriter: VmStateWriter,
    private readonly reconciler: VmReconciler,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.follow(this.hostPorts.localPort);
    this.subscriptions.add(this.hostPorts.opened$.subscribe(({ port }) => this.follow(port)));
  }

  onApplicationShutdown(): void {
    this.subscriptions.unsubscribe();
  }

  private follow(port: VirtualizationPort): void {
    this.subscriptions.add(
      port.events().subscribe({
        next: (event) =>
          void this.onEvent(event).catch((error) =>
            this.logger.warn(`event handling failed: ${(error as Error).message}`),
          ),
        error: (error) => this.logger.error(`hypervisor event stream failed: ${(error as Error).message}`),
      }),
    );
  }

  private async onEvent(event: DomainEvent): Promise<void> {
    if (event.kind === 'resync-needed') {
      this.metrics.eventStreamRestarts.inc();
      this.logger.warn(`hypervisor events may have been missed (${event.reason}); sweeping`);
      await this.reconciler.sweep();
      return;
    }
    if (event.kind !== 'lifecycle' || !event.vmId) return;
    // A crash, a destroy (by LIMEN, an admin or libvirtd) or a host going down is no such wish.
    if (event.type === 'stopped' && event.detail === 'shutdown') await this.stateWriter.poweredOffByGuest(event.vmId);
    const state = stateFromLifecycle(event);
    if (state)
      await this.stateWriter.set(event.vmId, {
        state,
        reason: state === 'missing' ? 'the domain was undefined outside LIMEN' : null,
        unlessIn: TRANSITIONAL_STATES,
      });
  }
}
