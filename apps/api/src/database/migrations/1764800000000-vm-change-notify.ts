import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every statement that changes `vms` NOTIFYs `limen_vms_changed` (delivered when its transaction
 * commits), so each replica drops its cached VM list pages (VmPageCache), whoever wrote the rows:
 * another replica, a migration or SQL by hand. Per statement, not per row: a bulk update is one
 * notification, and PostgreSQL folds identical ones within a transaction.
 */
export class VmChangeNotify1764800000000 implements MigrationInterface {
  name = 'VmChangeNotify1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION limen_vms_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('limen_vms_changed', '');
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER vms_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON vms
      FOR EACH STATEMENT EXECUTE FUNCTION limen_vms_changed()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER vms_changed ON vms`);
    await q.query(`DROP FUNCTION limen_vms_changed()`);
  }
}
