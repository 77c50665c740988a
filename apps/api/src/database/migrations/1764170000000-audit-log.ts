import { MigrationInterface, QueryRunner } from 'typeorm';

export class AuditLog1764170000000 implements MigrationInterface {
  name = 'AuditLog1764170000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_log (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        actor_id uuid,
        actor_username varchar(64),
        action varchar(64) NOT NULL,
        target_type varchar(32),
        target_id varchar(64),
        result varchar(16) NOT NULL CHECK (result IN ('success', 'failure')),
        status_code integer,
        error_code varchar(64),
        request_id varchar(128),
        ip varchar(64),
        user_agent varchar(512),
        before jsonb,
        after jsonb,
        details jsonb
      )`);
    await q.query(`CREATE INDEX audit_log_created_at_id_idx ON audit_log (created_at DESC, id DESC)`);
    await q.query(`CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, created_at DESC)`);
    await q.query(`CREATE INDEX audit_log_target_idx ON audit_log (target_id, created_at DESC)`);
    // Append-only, enforced by the database: no UPDATE, DELETE or TRUNCATE, whoever asks.
    await q.query(`
      CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_log is append-only';
      END
      $$`);
    await q.query(
      `CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only()`,
    );
    await q.query(
      `CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only()`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_log`);
    await q.query(`DROP FUNCTION audit_log_is_append_only()`);
  }
}
