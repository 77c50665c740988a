import { Tx } from '../../database/transaction';
import { VmDisk } from '../vm-disk.entity';
import { VmDiskRepository } from '../vm-disk.repository';

/** VmDiskRepository in memory, for unit specs: the (vm, position) key as the table has it. */
export class FakeVmDiskRepository {
  readonly rows = new Map<string, VmDisk>();

  constructor(...disks: VmDisk[]) {
    for (const disk of disks) this.rows.set(disk.id, this.copy(disk));
  }

  async ofVm(vmId: string, _tx?: Tx): Promise<VmDisk[]> {
    return [...this.rows.values()]
      .filter((disk) => disk.vmId === vmId)
      .sort((a, b) => a.position - b.position)
      .map((disk) => this.copy(disk));
  }

  async add(_tx: Tx, disk: VmDisk): Promise<void> {
    if ([...this.rows.values()].some((d) => d.vmId === disk.vmId && d.position === disk.position))
      throw new Error(`duplicate key value violates unique constraint: vm_disks (${disk.vmId}, ${disk.position})`);
    disk.createdAt ??= new Date();
    this.rows.set(disk.id, this.copy(disk));
  }

  async find(id: string, _tx?: Tx): Promise<VmDisk | null> {
    const disk = this.rows.get(id);
    return disk ? this.copy(disk) : null;
  }

  async resize(id: string, from: number, to: number, _tx?: Tx): Promise<boolean> {
    const disk = this.rows.get(id);
    if (disk?.sizeGiB !== from) return false;
    this.rows.set(id, Object.assign(this.copy(disk), { sizeGiB: to }));
    return true;
  }

  async delete(id: string, _tx?: Tx): Promise<boolean> {
    return this.rows.delete(id);
  }

  async totalGiB(vmId: string, _tx?: Tx): Promise<number> {
    return (await this.ofVm(vmId)).reduce((total, disk) => total + disk.sizeGiB, 0);
  }

  async unusedBases(bases: string[], goneVmId?: string, _tx?: Tx): Promise<string[]> {
    const used = [...this.rows.values()].filter((disk) => disk.vmId !== goneVmId).map((disk) => disk.baseVolume);
    return [...new Set(bases)].filter((base) => !used.includes(base));
  }

  /** Typed as the real one, for constructors. */
  get asRepository(): VmDiskRepository {
    return this as unknown as VmDiskRepository;
  }

  private copy(disk: VmDisk): VmDisk {
    return Object.assign(new VmDisk(), disk);
  }
}
