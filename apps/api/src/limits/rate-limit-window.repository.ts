import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';

/** What one lease on a window gave: `granted` hits (0 when the window is spent). */
export interface WindowLease {
  granted: number;
  /** The window's hits after the lease, every replica's leases included. */
  hits: number;
  /** Until the window ends, by the database's clock (so replicas' clocks need not agree). */
  resetsInMs: number;
}

/** A lease takes at most this share of what is left of a window (see LeasedThrottlerStorage). */
export const LEASE_SHARE = 8;

// The hits already counted in the window, 0 once it has ended (the lease starts a new one).
const BASE = `(CASE WHEN w.resets_at <= now() THEN 0 ELSE w.hits END)`;
const grant = (base: string) =>
  `GREATEST(0, LEAST($2::int, $3::int - ${base}, GREATEST(1, ($3::int - ${base}) / ${LEASE_SHARE})))`;

/**
 * Leases hits of a fixed window in one statement: the upsert's row lock orders concurrent leases
 * of all replicas, so together they never grant more than the limit. $1 key, $2 most hits
 * wanted, $3 limit, $4 window length (ms).
 */
const LEASE_SQL = `
  INSERT INTO rate_limit_windows AS w (key, hits, granted, resets_at)
  VALUES ($1, ${grant('0')}, ${grant('0')}, now() + $4::int * interval '1 millisecond')
  ON CONFLICT (key) DO UPDATE SET
    hits = ${BASE} + ${grant(BASE)},
    granted = ${grant(BASE)},
    resets_at = CASE WHEN w.resets_at <= now() THEN EXCLUDED.resets_at ELSE w.resets_at END
  RETURNING hits, granted, ceil(extract(epoch FROM resets_at - now()) * 1000)::int AS resets_in_ms`;

/** The one owner of `rate_limit_windows`: the rate-limit counters replicas share. */
@Injectable()
export class RateLimitWindowRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  async lease(key: string, want: number, limit: number, ttlMs: number): Promise<WindowLease> {
    // Keys hold what clients send (a username, which may carry a NUL PostgreSQL text refuses): the
    // table keeps their digest, which also keeps names and addresses out of it.
    const digest = createHash('sha256').update(key).digest('hex');
    const [row] = await this.prepared<{ hits: number; granted: number; resets_in_ms: number }>(
      'rate_limit_lease',
      LEASE_SQL,
      [digest, want, limit, ttlMs],
    );
    return { granted: row.granted, hits: row.hits, resetsInMs: row.resets_in_ms };
  }

  /** Forgets windows that ended a while ago (an ended window counts as zero anyway). */
  async deleteEnded(): Promise<void> {
    await this.query(undefined, `DELETE FROM rate_limit_windows WHERE resets_at < now() - interval '1 minute'`);
  }
}
