import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { VmDisk } from './vm-disk.entity';

/** The one owner of the `vm_disks` table's SQL. */
@Injectable()
export class VmDiskRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** A VM's disks in domain order (the boot disk first). */
  ofVm(vmId: string, tx?: Tx): Promise<VmDisk[]> {
    return this.manager(tx).find(VmDisk, { where: { vmId }, order: { position: 'ASC' } });
  }

  find(id: string, tx?: Tx): Promise<VmDisk | null> {
    return this.manager(tx).findOneBy(VmDisk, { id });
  }

  /** Inserts a disk; its id is the caller's, since the volume name is derived from it. */
  async add(tx: Tx, disk: VmDisk): Promise<void> {
    await this.insert(tx, disk);
  }

  /** Sets a disk's size, only if it still is `from` (a failed resize puts back only its own change); whether it did. */
  async resize(id: string, from: number, to: number, tx?: Tx): Promise<boolean> {
    const [rows] = await this.manager(tx).query(
      `UPDATE vm_disks SET size_gib = $3 WHERE id = $1 AND size_gib = $2 RETURNING id`,
      [id, from, to],
    );
    return rows.length > 0;
  }

  /** Whether a row went. */
  async delete(id: string, tx?: Tx): Promise<boolean> {
    const result = await this.manager(tx).delete(VmDisk, { id });
    return (result.affected ?? 0) > 0;
  }

  /**
   * Of the linked-clone bases `bases`, those no disk is an overlay of any more (the disks of
   * `goneVmId`, being deleted, aside): asked after the rows went, so of two disks over one base
   * removed at once, at least the later one finds it unused.
   */
  async unusedBases(bases: string[], goneVmId?: string, tx?: Tx): Promise<string[]> {
    if (!bases.length) return [];
    const rows = await this.query<{ base: string }>(
      tx,
      `SELECT base FROM unnest($1::text[]) AS base
       WHERE NOT EXISTS (
         SELECT 1 FROM vm_disks WHERE base_volume = base AND ($2::uuid IS NULL OR vm_id <> $2::uuid))`,
      [[...new Set(bases)], goneVmId ?? null],
    );
    return rows.map((row) => row.base);
  }

  /** The sum of a VM's disk sizes: what `vms.disk_gib` holds for the quota sums. */
  async totalGiB(vmId: string, tx?: Tx): Promise<number> {
    const [{ total }] = await this.query<{ total: number }>(
      tx,
      `SELECT coalesce(sum(size_gib), 0)::int AS total FROM vm_disks WHERE vm_id = $1`,
      [vmId],
    );
    return total;
  }
}
