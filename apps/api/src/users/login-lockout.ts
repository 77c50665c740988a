import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { isIPv4, isIPv6 } from 'node:net';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config';

/**
 * Where a login comes from, as the lock-out counts it. An IPv6 client usually holds a whole
 * /64, so its addresses count as one; an IPv4-mapped IPv6 address is its IPv4 address.
 */
export function lockoutClient(ip: string | undefined): string {
  const address = (ip ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return 'unknown';
  const [head, tail = ''] = address.split('%')[0].split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/**
 * Failed logins, counted per (username, client) in the database (`login_failures`), so every
 * replica sees the same counts. LOCKOUT_THRESHOLD failures from one client within
 * LOCKOUT_MINUTES of each other lock that username for that client only: someone guessing from
 * elsewhere cannot lock the owner out. Names that belong to no account are counted the same
 * way, so the lock-out does not tell which names exist.
 */
@Injectable()
export class LoginLockout {
  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /** Until when this username is locked for this client, if it is. */
  async lockedUntil(username: string, client: string): Promise<Date | null> {
    const rows: Array<{ locked_until: Date }> = await this.dataSource.query(
      `SELECT locked_until FROM login_failures WHERE username = $1 AND client = $2 AND locked_until > now()`,
      [username, client],
    );
    return rows[0] ? new Date(rows[0].locked_until) : null;
  }

  /**
   * Counts one failure in one atomic statement, so concurrent failures all count and the lock
   * trips once; returns the lock it set, if this failure reached the threshold. Failures older
   * than LOCKOUT_MINUTES are forgotten, and so are their rows.
   */
  async recordFailure(username: string, client: string): Promise<Date | null> {
    const { lockoutThreshold: threshold, lockoutMinutes: minutes } = this.config;
    await this.dataSource.query(
      `DELETE FROM login_failures WHERE last_failed_at < now() - make_interval(mins => $1) AND (locked_until IS NULL OR locked_until < now())`,
      [minutes],
    );
    // TypeORM's postgres driver answers an INSERT ... RETURNING with the rows alone.
    const next = `CASE WHEN f.last_failed_at > now() - make_interval(mins => $4) THEN f.failed_count + 1 ELSE 1 END`;
    const rows: Array<{ locked_until: Date | null }> = await this.dataSource.query(
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

  /** A successful login forgets this client's failures for the name, and nobody else's. */
  async clear(username: string, client: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM login_failures WHERE username = $1 AND client = $2`, [username, client]);
  }

  /** An admin (re-)activating the account lifts every lock on its name (within the caller's transaction). */
  async clearAccount(username: string, manager: EntityManager = this.dataSource.manager): Promise<void> {
    await manager.query(`DELETE FROM login_failures WHERE username = $1`, [username]);
  }
}
