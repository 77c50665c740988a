import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { Network } from './network.entity';

/** Arbitrary but fixed, distinct from the leader's and the alert evaluator's: serializes network creates and deletes. */
const NETWORKS_LOCK_KEY = 0x4c494e45;

/** The one owner of the `networks` table's SQL. */
@Injectable()
export class NetworkRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** Newest first; without `includePrivate` only the public ones. */
  page(page: PageQueryDto, includePrivate: boolean): Promise<{ items: Network[]; nextCursor: string | null }> {
    const builder = this.manager().createQueryBuilder(Network, 'network');
    if (!includePrivate) builder.where('network.public = true');
    return paginate(builder, page);
  }

  find(id: string, tx?: Tx): Promise<Network | null> {
    return this.manager(tx).findOneBy(Network, { id });
  }

  findByName(name: string, tx?: Tx): Promise<Network | null> {
    return this.manager(tx).findOneBy(Network, { name });
  }

  findMany(ids: string[], tx?: Tx): Promise<Network[]> {
    return ids.length ? this.manager(tx).findBy(Network, { id: In(ids) }) : Promise.resolve([]);
  }

  /**
   * The network a NIC is about to reference, share-locked until `tx` ends (FOR KEY SHARE, as the
   * foreign key would take it), so a delete waits for the NIC's insert and then sees it.
   */
  async findForAttach(tx: Tx, id: string): Promise<Network | null> {
    const rows = await this.query(tx, `SELECT * FROM networks WHERE id = $1 FOR KEY SHARE`, [id]);
    return rows.length ? this.fromRow(Network, rows[0]) : null;
  }

  /** Serializes network creates and deletes across replicas until `tx` ends: two overlapping creates cannot both win. */
  async lockAll(tx: Tx): Promise<void> {
    await this.query(tx, `SELECT pg_advisory_xact_lock($1)`, [NETWORKS_LOCK_KEY]);
  }

  /** Networks whose subnet overlaps `cidr` (either contains the other). */
  async overlapping(tx: Tx, cidr: string): Promise<Network[]> {
    const rows = await this.query(tx, `SELECT * FROM networks WHERE cidr IS NOT NULL AND cidr && $1::cidr`, [cidr]);
    return rows.map((row) => this.fromRow(Network, row));
  }

  /** Inserts a new network; false when the name is taken (skipped, so `tx` stays usable). */
  insertIfNameFree(tx: Tx, network: Network): Promise<boolean> {
    return this.insert(tx, network, { ifNoConflict: true });
  }

  /** The row locked for update until `tx` ends. */
  findForUpdate(tx: Tx, id: string): Promise<Network | null> {
    return this.manager(tx).findOne(Network, { where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  async delete(tx: Tx, id: string): Promise<void> {
    await this.manager(tx).delete(Network, { id });
  }
}
