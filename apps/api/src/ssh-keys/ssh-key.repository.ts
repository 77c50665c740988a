import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, In } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { SshKey } from './ssh-key.entity';

/** The one owner of the `ssh_keys` table's SQL. Every read is scoped to an owner: keys are never shared. */
@Injectable()
export class SshKeyRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** An owner's keys, newest first. */
  pageOfOwner(ownerId: string, page: PageQueryDto): Promise<{ items: SshKey[]; nextCursor: string | null }> {
    return paginate(
      this.manager().createQueryBuilder(SshKey, 'key').where('key.ownerId = :ownerId', { ownerId }),
      page,
    );
  }

  findOfOwner(ownerId: string, id: string, tx?: Tx): Promise<SshKey | null> {
    return this.manager(tx).findOneBy(SshKey, { id, ownerId });
  }

  /** Those of `ids` that `ownerId` owns (in no particular order). */
  findManyOfOwner(ownerId: string, ids: string[], tx?: Tx): Promise<SshKey[]> {
    if (!ids.length) return Promise.resolve([]);
    return this.manager(tx).findBy(SshKey, { ownerId, id: In(ids) });
  }

  /** Which of the owner's keys clashes with a new one: by name first, then by fingerprint. */
  async clashOf(ownerId: string, name: string, fingerprint: string, tx?: Tx): Promise<'name' | 'fingerprint' | null> {
    const rows = await this.query<{ name: string }>(
      tx,
      `SELECT name FROM ssh_keys WHERE owner_id = $1 AND (name = $2 OR fingerprint = $3) ORDER BY (name = $2) DESC LIMIT 1`,
      [ownerId, name, fingerprint],
    );
    if (!rows.length) return null;
    return rows[0].name === name ? 'name' : 'fingerprint';
  }

  /** Inserts a key; false when the owner already has one of that name or fingerprint (skipped, so `tx` stays usable). */
  insertIfFree(key: SshKey, tx?: Tx): Promise<boolean> {
    return this.insert(tx, key, { ifNoConflict: true });
  }

  /** Deletes one of the owner's keys; false when it has none of that id. */
  async deleteOfOwner(ownerId: string, id: string): Promise<boolean> {
    const result = await this.manager().delete(SshKey, { id, ownerId });
    return (result.affected ?? 0) > 0;
  }
}
