import { computeCharge, diskUsageGiB, snapshotReservationMiB, snapshotSizeMiB } from './quota-ledger';

describe('computeCharge', () => {
  it('security 11.3: a stopped VM is charged what it will boot with', () => {
    expect(computeCharge({ vcpus: 2, memoryMiB: 512, runningVcpus: null, runningMemoryMiB: null })).toEqual({
      vcpus: 2,
      memoryMiB: 512,
    });
  });

  it('security 11.3: a running VM is charged the larger of what it booted with and what it will boot with, per resource', () => {
    expect(computeCharge({ vcpus: 1, memoryMiB: 128, runningVcpus: 2, runningMemoryMiB: 256 })).toEqual({
      vcpus: 2,
      memoryMiB: 256,
    });
    expect(computeCharge({ vcpus: 4, memoryMiB: 128, runningVcpus: 2, runningMemoryMiB: 2048 })).toEqual({
      vcpus: 4,
      memoryMiB: 2048,
    });
  });
});

describe('snapshot storage', () => {
  it('security 11.8: a snapshot of a running or paused VM reserves the RAM state it saves, as the VM booted; of a stopped VM, none', () => {
    expect(snapshotReservationMiB({ state: 'running', memoryMiB: 128, runningMemoryMiB: 512 })).toBe(512);
    expect(snapshotReservationMiB({ state: 'paused', memoryMiB: 256, runningMemoryMiB: null })).toBe(256);
    expect(snapshotReservationMiB({ state: 'stopped', memoryMiB: 256, runningMemoryMiB: null })).toBe(0);
  });

  it('security 11.8: a taken snapshot holds its reservation, or the measured growth of the disk (to the next MiB) if that is more', () => {
    expect(snapshotSizeMiB(128, 1.5 * 1024 ** 2)).toBe(128);
    expect(snapshotSizeMiB(128, 400 * 1024 ** 2 + 1)).toBe(401);
    expect(snapshotSizeMiB(0, 1)).toBe(1);
    expect(snapshotSizeMiB(64, -4096)).toBe(64);
  });

  it("security 11.8: disk usage is the VMs' virtual sizes plus the snapshots' sizes, to the MiB", () => {
    expect(diskUsageGiB(3, 0)).toBe(3);
    expect(diskUsageGiB(1, 128)).toBe(1.125);
    expect(diskUsageGiB(0, 2048)).toBe(2);
  });
});
