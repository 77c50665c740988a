import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A session (refresh-token family) ends when its live token is revoked: a token revoked without
 * being rotated (`replaced_by_id` null). Each such revocation NOTIFYs `limen_session_revoked`
 * with the family id (delivered when its transaction commits), so every replica refuses the
 * session's access tokens (SessionRevocations), whoever wrote the row: the api, or SQL by hand.
 * The partial index serves the start-up read of the sessions ended within the token lifetime.
 */
export class SessionRevocations1764900000000 implements MigrationInterface {
  name = 'SessionRevocations1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE INDEX refresh_tokens_session_ended_idx ON refresh_tokens (revoked_at)
      WHERE replaced_by_id IS NULL AND revoked_at IS NOT NULL`);
    await q.query(`
      CREATE FUNCTION limen_session_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('limen_session_revoked', NEW.family_id::text);
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER refresh_tokens_session_revoked AFTER UPDATE OF revoked_at ON refresh_tokens
      FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL AND NEW.replaced_by_id IS NULL)
      EXECUTE FUNCTION limen_session_revoked()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER refresh_tokens_session_revoked ON refresh_tokens`);
    await q.query(`DROP FUNCTION limen_session_revoked()`);
    await q.query(`DROP INDEX refresh_tokens_session_ended_idx`);
  }
}
