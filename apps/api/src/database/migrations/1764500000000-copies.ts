import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Copies a user can rely on (issue 16): backups in BACKUP_DIR, schedules of snapshots and backups,
 * templates (images made from a VM, with an owner and a visibility), the read-only bases linked
 * clones share, and the `backup_gib` quota that backups and templates count against.
 */
export class Copies1764500000000 implements MigrationInterface {
  name = 'Copies1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE quotas ADD COLUMN backup_gib integer`);
    // Null owner: an image found in IMAGE_DIR or uploaded by an admin (public to everyone).
    await q.query(`ALTER TABLE images ADD COLUMN owner_id uuid REFERENCES users(id) ON DELETE CASCADE`);
    await q.query(`ALTER TABLE images ADD COLUMN source_vm_id uuid`);
    await q.query(`ALTER TABLE images ADD COLUMN visibility varchar(8) NOT NULL DEFAULT 'public'`);
    await q.query(`ALTER TABLE images ADD COLUMN state varchar(16) NOT NULL DEFAULT 'ready'`);
    await q.query(`CREATE UNIQUE INDEX images_template_name ON images (lower(name)) WHERE owner_id IS NOT NULL`);
    // A linked clone's disk is an overlay over this read-only volume of the same pool; the base goes
    // with the last disk over it.
    await q.query(`ALTER TABLE vm_disks ADD COLUMN base_volume text`);
    await q.query(`CREATE INDEX vm_disks_base_volume ON vm_disks (base_volume) WHERE base_volume IS NOT NULL`);
    await q.query(`
      CREATE TABLE schedules (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        vm_id uuid NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
        owner_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        kind varchar(16) NOT NULL,
        cron varchar(128) NOT NULL,
        time_zone varchar(64) NOT NULL DEFAULT 'UTC',
        keep_last integer,
        keep_days integer,
        enabled boolean NOT NULL DEFAULT true,
        next_run_at timestamptz(3) NOT NULL,
        last_run_at timestamptz(3),
        last_operation_id uuid,
        last_error text,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX schedules_due ON schedules (next_run_at) WHERE enabled`);
    await q.query(`CREATE INDEX schedules_vm ON schedules (vm_id, created_at, id)`);
    await q.query(`
      CREATE TABLE backups (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        vm_id uuid,
        owner_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        vm_name varchar(64) NOT NULL,
        schedule_id uuid REFERENCES schedules(id) ON DELETE SET NULL,
        state varchar(16) NOT NULL,
        consistency varchar(16),
        size_bytes bigint NOT NULL DEFAULT 0,
        manifest jsonb,
        error text,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        completed_at timestamptz(3)
      )`);
    await q.query(`CREATE INDEX backups_owner ON backups (owner_id, created_at, id)`);
    await q.query(`CREATE INDEX backups_vm ON backups (vm_id, created_at, id)`);
    await q.query(`ALTER TABLE snapshots ADD COLUMN schedule_id uuid REFERENCES schedules(id) ON DELETE SET NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE snapshots DROP COLUMN schedule_id`);
    await q.query(`DROP TABLE backups`);
    await q.query(`DROP TABLE schedules`);
    await q.query(`ALTER TABLE vm_disks DROP COLUMN base_volume`);
    await q.query(`DROP INDEX images_template_name`);
    for (const column of ['state', 'visibility', 'source_vm_id', 'owner_id'])
      await q.query(`ALTER TABLE images DROP COLUMN ${column}`);
    await q.query(`ALTER TABLE quotas DROP COLUMN backup_gib`);
  }
}
