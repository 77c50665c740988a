import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * OIDC sign-in: an account is linked to a provider's (issuer, subject) pair, never to an e-mail
 * address; and each sign-in started holds its PKCE verifier and nonce server-side under the
 * SHA-256 of its `state`, spent on first use and refused after 10 minutes.
 */
export class OidcIdentities1764620000000 implements MigrationInterface {
  name = 'OidcIdentities1764620000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE oidc_identities (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        issuer text NOT NULL,
        subject varchar(255) NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        last_login_at timestamptz(3) NOT NULL DEFAULT now(),
        UNIQUE (issuer, subject)
      )`);
    await q.query(`CREATE INDEX oidc_identities_user_id_idx ON oidc_identities (user_id)`);
    await q.query(`
      CREATE TABLE oidc_login_states (
        state_hash char(64) PRIMARY KEY,
        code_verifier text NOT NULL,
        nonce text NOT NULL,
        expires_at timestamptz(3) NOT NULL
      )`);
    await q.query(`CREATE INDEX oidc_login_states_expires_at_idx ON oidc_login_states (expires_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE oidc_login_states`);
    await q.query(`DROP TABLE oidc_identities`);
  }
}
