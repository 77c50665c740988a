import { AppConfig } from '../config/app-config';
import { Tx } from '../database/transaction';
import { MetricsService } from '../metrics/metrics.service';
import { Snapshot } from '../snapshots/snapshot.entity';
import { FakeVmRepository, vmRow } from '../vms/testing/fake-vm-repository';
import { computeCharge, diskUsageGiB, QuotaLedger, snapshotReservationMiB, snapshotSizeMiB } from './quota-ledger';
import { FakeQuotaRepository } from './testing/fake-quota-repository';

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

describe('QuotaLedger', () => {
  const tx = {} as Tx;
  const defaults = { vms: 2, vcpus: 4, memoryMiB: 1024, diskGiB: 10, snapshots: 1 };

  function ledgerOver(...vms: Parameters<typeof vmRow>[0][]) {
    const rows = new FakeVmRepository(...vms.map((vm) => vmRow(vm)));
    const snapshots = { rows: new Map<string, Snapshot>() };
    const quotas = new FakeQuotaRepository(rows, snapshots);
    const denials: unknown[] = [];
    const metrics = { quotaDenials: { inc: (labels: unknown) => denials.push(labels) } } as unknown as MetricsService;
    const ledger = new QuotaLedger({ defaultQuota: defaults } as AppConfig, metrics, quotas.asRepository);
    return { ledger, quotas, snapshots, denials };
  }

  it('limits are the configured defaults, each replaced by the user’s override unless that is null', async () => {
    const { ledger, quotas } = ledgerOver();
    expect(await ledger.limits('alice')).toEqual(defaults);
    quotas.overridesByUser.set('alice', { vcpus: 8, memoryMiB: null });
    expect(await ledger.limits('alice')).toEqual({ ...defaults, vcpus: 8 });
  });

  it('usage counts the owner’s VMs at their charge and their disks plus snapshots, to the MiB', async () => {
    const { ledger, snapshots } = ledgerOver(
      { id: 'a', vcpus: 1, runningVcpus: 2, memoryMiB: 256, diskGiB: 2 },
      { id: 'b', vcpus: 1, memoryMiB: 128, diskGiB: 1 },
      { id: 'c', ownerId: 'bob', vcpus: 4 },
    );
    snapshots.rows.set('s', Object.assign(new Snapshot(), { id: 's', ownerId: 'alice', sizeMiB: 512 }));
    expect(await ledger.usage('alice')).toEqual({
      vms: 2,
      vcpus: 3,
      memoryMiB: 384,
      diskGiB: 3.5,
      snapshots: 1,
      backupGiB: 0,
    });
  });

  it('reserve locks the owner’s row, admits up to the limit, and refuses beyond it with 403 QUOTA_EXCEEDED', async () => {
    const { ledger, quotas, denials } = ledgerOver({ vcpus: 3 });
    await ledger.reserve(tx, 'alice', { vms: 1, vcpus: 1 });
    expect(quotas.locked).toEqual(['alice']);
    await expect(ledger.reserve(tx, 'alice', { vcpus: 2 })).rejects.toMatchObject({
      status: 403,
      code: 'QUOTA_EXCEEDED',
      extra: { resource: 'vcpus', limit: 4, used: 3, requested: 2 },
    });
    expect(denials).toEqual([{ resource: 'vcpus' }]);
  });

  it('a resource not asked for (or asked for 0) is not checked, even when over its limit', async () => {
    const { ledger, quotas } = ledgerOver({ vcpus: 3 });
    quotas.overridesByUser.set('alice', { vcpus: 1 });
    await expect(ledger.reserve(tx, 'alice', { vcpus: 0, memoryMiB: 128 })).resolves.toBeUndefined();
  });

  it('reserveResize reserves only what the charge grows by, and a running VM keeps what it booted with', async () => {
    const { ledger } = ledgerOver({ vcpus: 2, runningVcpus: 2, memoryMiB: 512, runningMemoryMiB: 512 });
    const vm = vmRow({ vcpus: 2, runningVcpus: 2, memoryMiB: 512, runningMemoryMiB: 512 });
    expect(await ledger.reserveResize(tx, vm, { vcpus: 1, memoryMiB: 768 })).toEqual({ vcpus: 0, memoryMiB: 256 });
    await expect(ledger.reserveResize(tx, vm, { vcpus: 5, memoryMiB: 512 })).rejects.toMatchObject({
      code: 'QUOTA_EXCEEDED',
      extra: { resource: 'vcpus', used: 2, requested: 3 },
    });
  });
});
