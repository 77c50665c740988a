import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';

/** How many failures lock a name for a client, and for how long (and how long a failure counts). */
export interface LockoutPolicy {
  threshold: number;
  minutes: number;
}

/** The one owner of `login_failures`: failed logins per (username, client), shared by every replica. */
@Injectable()
export class LoginFailureRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  async lockedUntil(username: string, client: string): Promise<Date | null> {
    const rows = await this.query<{ locked_until: Date }>(
      undefined,
      `SELECT locked_until FROM login_failures WHERE username = $1 AND client = $2 AND locked_until > now()`,
      [username, client],
    );
    return rows[0] ? new Date(rows[0].locked_until) : null;
  }

  /**
   * Counts one failure in one atomic statement, so concurrent failures all count and the lock
   * trips once; returns the lock it set, if this failure reached the threshold. Failures older
   * than the policy's minutes are forgotten, and so are their rows.
   */
  async recordFailure(username: string, client: string, { threshold, minutes }: LockoutPolicy): Promise<Date | null> {
    await this.query(
      undefined,
      `DELETE FROM login_failures WHERE last_failed_at < now() - make_interval(mins => $1) AND (locked_until IS NULL OR locked_until < now())`,
      [minutes],
    );
    // TypeORM's postgres driver answers an INSERT ... RETURNING with the rows alone.
    const next = `CASE WHEN f.last_failed_at > now() - make_interval(mins => $4) THEN f.failed_count + 1 ELSE 1 END`;
    const rows = await this.query<{ locked_until: Date | null }>(
      undefined,
      `INSERT INTO login_failures AS f (username, client, failed_count, last_failed_at, locked_until)
       VALUES ($1, $2, CASE WHEN 1 >= $3 THEN 0 ELSE 1 END, now(), CASE WHEN 1 >= $3 THEN now() + make_interval(mins => $4) END)
       ON CONFLICT (username, client) DO UPDATE SET
         failed_count = CASE WHEN ${next} >= $3 THEN 0 ELSE ${next} END,
         locked_until = CASE WHEN ${next} >= $3 THEN now() + make_interval(mins => $4) ELSE f.locked_until END,
         last_failed_at = now()
       RETURNING locked_until`,
      [username, client, threshold, minutes],
    );
    const lockedUntil = rows[0]?.locked_until;
    return lockedUntil ? new Date(lockedUntil) : null;
  }

  /** Forgets this client's failures for the name. */
  async clear(username: string, client: string): Promise<void> {
    await this.query(undefined, `DELETE FROM login_failures WHERE username = $1 AND client = $2`, [username, client]);
  }

  /** Forgets every client's failures for the name (in `tx` when given). */
  async clearAll(username: string, tx?: Tx): Promise<void> {
    await this.query(tx, `DELETE FROM login_failures WHERE username = $1`, [username]);
  }
}
