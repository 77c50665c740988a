import { MigrationInterface, QueryRunner } from 'typeorm';

/** Personal API tokens (TokensModule): only the secret's SHA-256 is stored; rows go with their owner. */
export class ApiTokens1764600000000 implements MigrationInterface {
  name = 'ApiTokens1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_tokens (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name varchar(64) NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
        scopes text[] NOT NULL CHECK (cardinality(scopes) >= 1),
        token_hash char(64) NOT NULL UNIQUE,
        hint varchar(4) NOT NULL,
        expires_at timestamptz(3),
        last_used_at timestamptz(3),
        last_used_ip varchar(64),
        revoked_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX api_tokens_user_created_idx ON api_tokens (user_id, created_at DESC, id DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE api_tokens`);
  }
}
