import { computeCharge } from './quota-ledger';

describe('computeCharge', () => {
  it('security 11.3: a stopped VM is charged what it will boot with', () => {
    expect(computeCharge({ vcpus: 2, memoryMiB: 512, runningVcpus: null, runningMemoryMiB: null })).toEqual({ vcpus: 2, memoryMiB: 512 });
  });

  it('security 11.3: a running VM is charged the larger of what it booted with and what it will boot with, per resource', () => {
    expect(computeCharge({ vcpus: 1, memoryMiB: 128, runningVcpus: 2, runningMemoryMiB: 256 })).toEqual({ vcpus: 2, memoryMiB: 256 });
    expect(computeCharge({ vcpus: 4, memoryMiB: 128, runningVcpus: 2, runningMemoryMiB: 2048 })).toEqual({ vcpus: 4, memoryMiB: 2048 });
  });
});
