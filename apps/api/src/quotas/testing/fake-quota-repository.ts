import { Tx } from '../../database/transaction';
import { Snapshot } from '../../snapshots/snapshot.entity';
import { Vm } from '../../vms/vm.entity';
import { computeCharge } from '../quota-ledger';
import { QuotaHoldings, QuotaOverrides, QuotaRepository } from '../quota.repository';

/** QuotaRepository in memory, for unit specs: holdings are summed over the given VM and snapshot tables. */
export class FakeQuotaRepository {
  readonly overridesByUser = new Map<string, QuotaOverrides>();
  /** Users whose row a reservation locked. */
  readonly locked: string[] = [];
  /** Bytes each user holds in backups and templates (set by specs of those). */
  readonly backupBytesByUser = new Map<string, number>();

  constructor(
    private readonly vms: { rows: Map<string, Vm> },
    private readonly snapshots: { rows: Map<string, Snapshot> } = { rows: new Map() },
  ) {}

  async overrides(userId: string, _tx?: Tx): Promise<QuotaOverrides | null> {
    return this.overridesByUser.get(userId) ?? null;
  }

  async lockOverrides(_tx: Tx, userId: string): Promise<QuotaOverrides> {
    this.locked.push(userId);
    return this.overridesByUser.get(userId) ?? {};
  }

  async holdings(userId: string, _tx?: Tx): Promise<QuotaHoldings> {
    const vms = [...this.vms.rows.values()].filter((vm) => vm.ownerId === userId);
    const snapshots = [...this.snapshots.rows.values()].filter((snapshot) => snapshot.ownerId === userId);
    const sum = <T>(items: T[], pick: (item: T) => number) => items.reduce((total, item) => total + pick(item), 0);
    return {
      vms: vms.length,
      vcpus: sum(vms, (vm) => computeCharge(vm).vcpus),
      memoryMiB: sum(vms, (vm) => computeCharge(vm).memoryMiB),
      vmDiskGiB: sum(vms, (vm) => vm.diskGiB),
      snapshots: snapshots.length,
      snapshotMiB: sum(snapshots, (snapshot) => snapshot.sizeMiB),
      backupBytes: this.backupBytesByUser.get(userId) ?? 0,
    };
  }

  async setOverrides(_tx: Tx, userId: string, changes: QuotaOverrides): Promise<void> {
    const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
    this.overridesByUser.set(userId, { ...this.overridesByUser.get(userId), ...defined });
  }

  /** Typed as the real one, for constructors. */
  get asRepository(): QuotaRepository {
    return this as unknown as QuotaRepository;
  }
}
