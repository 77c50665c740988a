import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Failed logins are counted per (username, client address) instead of per account, so an
 * attacker's failures lock out the attacker's address, not the account's owner. The username
 * need not exist: unknown names are counted and locked exactly like known ones.
 */
export class LoginFailures1764201300000 implements MigrationInterface {
  name = 'LoginFailures1764201300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE login_failures (
        username varchar(32) NOT NULL,
        client varchar(64) NOT NULL,
        failed_count integer NOT NULL,
        last_failed_at timestamptz(3) NOT NULL,
        locked_until timestamptz(3),
        PRIMARY KEY (username, client)
      )`);
    await q.query(`CREATE INDEX login_failures_last_failed_at_idx ON login_failures (last_failed_at)`);
    await q.query(`ALTER TABLE users DROP COLUMN failed_login_count, DROP COLUMN locked_until`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE users ADD COLUMN failed_login_count integer NOT NULL DEFAULT 0, ADD COLUMN locked_until timestamptz(3)`,
    );
    await q.query(`DROP TABLE login_failures`);
  }
}
