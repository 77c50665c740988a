import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Limits shared by replicas (LIMITS_STORE=postgres): rate-limit windows and per-user slots
 * (console sessions, event streams). Unlogged: they are counters for the next minute or the
 * open connections, worth no WAL; after a crash PostgreSQL empties them, which only restarts
 * the counting.
 */
export class SharedLimits1764700000000 implements MigrationInterface {
  name = 'SharedLimits1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE UNLOGGED TABLE rate_limit_windows (
        key varchar(200) PRIMARY KEY,
        hits integer NOT NULL,
        granted integer NOT NULL,
        resets_at timestamptz(3) NOT NULL
      )`);
    await q.query(`CREATE INDEX rate_limit_windows_resets_at_idx ON rate_limit_windows (resets_at)`);
    await q.query(`
      CREATE UNLOGGED TABLE limit_slots (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        kind varchar(16) NOT NULL,
        user_id uuid NOT NULL,
        holder varchar(128) NOT NULL,
        seen_at timestamptz(3) NOT NULL
      )`);
    await q.query(`CREATE INDEX limit_slots_kind_user_idx ON limit_slots (kind, user_id)`);
    await q.query(`CREATE INDEX limit_slots_holder_idx ON limit_slots (holder)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE limit_slots`);
    await q.query(`DROP TABLE rate_limit_windows`);
  }
}
