import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Each started OIDC sign-in records the SHA-256 of the random cookie its browser got, and the
 * callback needs that cookie back (login CSRF). Nullable: a replica still on the previous version
 * during a roll stores none, and a state without a binding is refused at the callback.
 */
export class OidcLoginBinding1764910000000 implements MigrationInterface {
  name = 'OidcLoginBinding1764910000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE oidc_login_states ADD COLUMN binding_hash char(64)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE oidc_login_states DROP COLUMN binding_hash`);
  }
}
