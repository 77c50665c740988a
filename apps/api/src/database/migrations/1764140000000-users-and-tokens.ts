import { MigrationInterface, QueryRunner } from 'typeorm';

export class UsersAndTokens1764140000000 implements MigrationInterface {
  name = 'UsersAndTokens1764140000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        username varchar(32) NOT NULL CHECK (username ~ '^[a-z0-9._-]{3,32}$'),
        password_hash text NOT NULL,
        role varchar(16) NOT NULL CHECK (role IN ('admin', 'user')),
        status varchar(16) NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
        failed_login_count integer NOT NULL DEFAULT 0,
        locked_until timestamptz(3),
        token_version integer NOT NULL DEFAULT 0,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username))`);
    await q.query(`CREATE INDEX users_created_at_id_idx ON users (created_at DESC, id DESC)`);
    await q.query(`
      CREATE TABLE refresh_tokens (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        family_id uuid NOT NULL,
        token_hash char(64) NOT NULL UNIQUE,
        expires_at timestamptz(3) NOT NULL,
        revoked_at timestamptz(3),
        replaced_by_id uuid,
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id)`);
    await q.query(`CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE refresh_tokens`);
    await q.query(`DROP TABLE users`);
  }
}
