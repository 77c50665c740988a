import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Self-service and the TOTP second factor (issue 17): where each session (refresh-token family)
 * came from, each user's TOTP secret (encrypted) and recovery codes (hashed), and the login
 * challenges that wait for a second factor (hashed, single use).
 */
export class SecondFactor1764610000000 implements MigrationInterface {
  name = 'SecondFactor1764610000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE refresh_tokens ADD COLUMN created_ip varchar(64), ADD COLUMN user_agent varchar(512)`);
    await q.query(`
      CREATE TABLE user_totp (
        user_id uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        secret_encrypted text NOT NULL,
        confirmed_at timestamptz(3),
        last_used_step bigint,
        recovery_code_hashes text[] NOT NULL DEFAULT '{}',
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE second_factor_challenges (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        token_hash char(64) NOT NULL UNIQUE,
        enrolment boolean NOT NULL,
        failed_attempts integer NOT NULL DEFAULT 0,
        expires_at timestamptz(3) NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX second_factor_challenges_user_id_idx ON second_factor_challenges (user_id)`);
    await q.query(`CREATE INDEX second_factor_challenges_expires_at_idx ON second_factor_challenges (expires_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE second_factor_challenges`);
    await q.query(`DROP TABLE user_totp`);
    await q.query(`ALTER TABLE refresh_tokens DROP COLUMN created_ip, DROP COLUMN user_agent`);
  }
}
