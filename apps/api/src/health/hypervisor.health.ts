import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { VIRTUALIZATION_PORT, VirtualizationPort } from '@limen/libvirt';
import { withTimeout } from '../common/with-timeout';

const TIMEOUT_MS = 3000;

/** Ready only when the hypervisor answers a capabilities query in time. */
@Injectable()
export class HypervisorHealthIndicator {
  constructor(
    @Inject(VIRTUALIZATION_PORT) private readonly port: VirtualizationPort,
    private readonly indicator: HealthIndicatorService,
  ) {}

  async check(key = 'hypervisor'): Promise<HealthIndicatorResult> {
    const session = this.indicator.check(key);
    try {
      const capabilities = await withTimeout(this.port.getHostCapabilities(), TIMEOUT_MS);
      return session.up({
        virtTypes: capabilities.virtTypes,
        adapter: capabilities.adapter,
        version: capabilities.libvirtVersion ?? capabilities.qemuVersion,
      });
    } catch (error) {
      return session.down({ message: (error as Error).message });
    }
  }
}
