import { Inject, Injectable } from '@nestjs/common';
import { VIRTUALIZATION_PORT, VirtualizationPort } from '@limen/libvirt';

/**
 * The way to reach the hypervisor that holds a VM. Every hypervisor call for a
 * VM goes through `forVm`, so placing VMs on several hosts changes this class only.
 */
@Injectable()
export class HostPorts {
  constructor(@Inject(VIRTUALIZATION_PORT) private readonly local: VirtualizationPort) {}

  forVm(_vm: { hostId: string | null }): VirtualizationPort {
    return this.local;
  }
}
