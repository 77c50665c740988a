import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';

/** The one owner of `limit_slots`: long-lived things (console sessions, event streams) every replica counts. */
@Injectable()
export class LimitSlotRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /**
   * Takes a slot unless the user holds `limit` live ones already; null then. The user's advisory
   * lock makes count-then-insert atomic across replicas; slots whose holder stopped refreshing
   * them for `staleSeconds` (a replica that died) are dropped first.
   */
  take(kind: string, userId: string, holder: string, limit: number, staleSeconds: number): Promise<string | null> {
    return this.dataSource.transaction(async (m) => {
      await m.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`limit_slots:${kind}:${userId}`]);
      await m.query(
        `DELETE FROM limit_slots WHERE kind = $1 AND user_id = $2 AND seen_at < now() - $3::int * interval '1 second'`,
        [kind, userId, staleSeconds],
      );
      const rows: Array<{ id: string }> = await m.query(
        `INSERT INTO limit_slots (kind, user_id, holder, seen_at)
         SELECT $1::varchar, $2::uuid, $3::varchar, now()
         WHERE (SELECT count(*) FROM limit_slots WHERE kind = $1::varchar AND user_id = $2::uuid) < $4::int
         RETURNING id`,
        [kind, userId, holder, limit],
      );
      return rows[0]?.id ?? null;
    });
  }

  async held(kind: string, userId: string, staleSeconds: number): Promise<number> {
    const [row] = await this.query<{ n: number }>(
      undefined,
      `SELECT count(*)::int AS n FROM limit_slots
       WHERE kind = $1 AND user_id = $2 AND seen_at >= now() - $3::int * interval '1 second'`,
      [kind, userId, staleSeconds],
    );
    return row.n;
  }

  async release(id: string): Promise<void> {
    await this.query(undefined, `DELETE FROM limit_slots WHERE id = $1`, [id]);
  }

  /** Marks every slot of `holder` alive. */
  async refresh(holder: string): Promise<void> {
    await this.query(undefined, `UPDATE limit_slots SET seen_at = now() WHERE holder = $1`, [holder]);
  }
}
