import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Disks, storage pools and desired state (issue 15).
 * - `vm_disks`: 1 to 16 disks per VM, each a volume in its host's VM pool. Existing VMs get their
 *   one disk, whose file keeps its old place (`<vmId>/disk.qcow2` under VM_DIR).
 * - `hosts.storage_path`: the folder of the host's VM pool (null: VM_DIR for the local host).
 * - `host_images`: which image is cached as which volume on which host.
 * - `vms.autostart`, `vms.desired_state` and the start attempts the sweep records.
 */
export class Storage1764400000000 implements MigrationInterface {
  name = 'Storage1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE vm_disks (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        vm_id uuid NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
        position smallint NOT NULL CHECK (position BETWEEN 0 AND 15),
        size_gib integer NOT NULL CHECK (size_gib > 0),
        bus varchar(8) NOT NULL DEFAULT 'virtio' CHECK (bus IN ('virtio', 'scsi')),
        boot_index smallint CHECK (boot_index > 0),
        serial varchar(20) NOT NULL,
        volume text NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        UNIQUE (vm_id, position)
      )`);
    await q.query(`
      INSERT INTO vm_disks (vm_id, position, size_gib, boot_index, serial, volume)
      SELECT id, 0, disk_gib, 1, left(replace(id::text, '-', ''), 20), id::text || '/disk.qcow2' FROM vms`);
    await q.query(`ALTER TABLE hosts ADD COLUMN storage_path text`);
    await q.query(`
      CREATE TABLE host_images (
        host_id uuid NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        image_id uuid NOT NULL,
        volume text NOT NULL,
        sha256 char(64),
        size_bytes bigint NOT NULL,
        state varchar(12) NOT NULL DEFAULT 'uploading' CHECK (state IN ('uploading', 'ready')),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        PRIMARY KEY (host_id, image_id)
      )`);
    await q.query(`
      ALTER TABLE vms
        ADD COLUMN autostart boolean NOT NULL DEFAULT false,
        ADD COLUMN desired_state varchar(16) NOT NULL DEFAULT 'stopped' CHECK (desired_state IN ('running', 'stopped')),
        ADD COLUMN start_attempts integer NOT NULL DEFAULT 0,
        ADD COLUMN next_start_at timestamptz(3),
        ADD COLUMN last_start_error text`);
    await q.query(`UPDATE vms SET desired_state = 'running', autostart = true WHERE state IN ('running', 'paused')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE vms DROP COLUMN autostart, DROP COLUMN desired_state, DROP COLUMN start_attempts,
      DROP COLUMN next_start_at, DROP COLUMN last_start_error`);
    await q.query(`DROP TABLE host_images`);
    await q.query(`ALTER TABLE hosts DROP COLUMN storage_path`);
    await q.query(`DROP TABLE vm_disks`);
  }
}
