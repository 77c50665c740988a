import { MigrationInterface, QueryRunner } from 'typeorm';

export class VmsImagesQuotasOperationsEvents1764150000000 implements MigrationInterface {
  name = 'VmsImagesQuotasOperationsEvents1764150000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE images (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name varchar(255) NOT NULL,
        kind varchar(8) NOT NULL CHECK (kind IN ('iso', 'disk', 'kernel')),
        path text NOT NULL UNIQUE,
        format varchar(8),
        size_bytes bigint NOT NULL DEFAULT 0,
        sha256 char(64),
        available boolean NOT NULL DEFAULT true,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE quotas (
        user_id uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        vms integer CHECK (vms >= 0),
        vcpus integer CHECK (vcpus >= 0),
        memory_mib integer CHECK (memory_mib >= 0),
        disk_gib integer CHECK (disk_gib >= 0),
        snapshots integer CHECK (snapshots >= 0),
        updated_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE vms (
        id uuid PRIMARY KEY,
        owner_id uuid NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
        host_id uuid,
        name varchar(63) NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
        description text NOT NULL DEFAULT '',
        vcpus integer NOT NULL CHECK (vcpus > 0),
        memory_mib integer NOT NULL CHECK (memory_mib > 0),
        disk_gib integer NOT NULL CHECK (disk_gib > 0),
        image_id uuid NOT NULL REFERENCES images(id) ON DELETE RESTRICT,
        media_image_id uuid REFERENCES images(id) ON DELETE RESTRICT,
        boot_order jsonb NOT NULL DEFAULT '["hd"]',
        state varchar(16) NOT NULL,
        state_reason text,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX vms_owner_name_key ON vms (owner_id, name)`);
    await q.query(`CREATE INDEX vms_created_at_id_idx ON vms (created_at DESC, id DESC)`);
    await q.query(`
      CREATE TABLE snapshots (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        vm_id uuid NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
        owner_id uuid NOT NULL,
        name varchar(64) NOT NULL,
        description text NOT NULL DEFAULT '',
        state varchar(16) NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX snapshots_vm_name_key ON snapshots (vm_id, name)`);
    await q.query(`CREATE INDEX snapshots_owner_idx ON snapshots (owner_id)`);
    await q.query(`
      CREATE TABLE operations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        kind varchar(32) NOT NULL,
        status varchar(16) NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
        owner_id uuid NOT NULL,
        vm_id uuid,
        params jsonb NOT NULL DEFAULT '{}',
        result jsonb,
        error jsonb,
        claimed_by varchar(64),
        heartbeat_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        started_at timestamptz(3),
        finished_at timestamptz(3),
        updated_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    // One mutating operation per VM at a time, enforced by the database itself.
    await q.query(
      `CREATE UNIQUE INDEX operations_one_active_per_vm ON operations (vm_id) WHERE status IN ('pending', 'running')`,
    );
    await q.query(`CREATE INDEX operations_created_at_id_idx ON operations (created_at DESC, id DESC)`);
    await q.query(`CREATE INDEX operations_active_idx ON operations (status) WHERE status IN ('pending', 'running')`);
    await q.query(`
      CREATE TABLE idempotency_keys (
        owner_id uuid NOT NULL,
        key varchar(255) NOT NULL,
        request_hash char(64) NOT NULL,
        status_code integer NOT NULL,
        response jsonb NOT NULL,
        location text,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        PRIMARY KEY (owner_id, key)
      )`);
    await q.query(`
      CREATE TABLE events (
        id bigserial PRIMARY KEY,
        type varchar(64) NOT NULL,
        owner_id uuid,
        vm_id uuid,
        payload jsonb NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX events_created_at_idx ON events (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['events', 'idempotency_keys', 'operations', 'snapshots', 'vms', 'quotas', 'images']) {
      await q.query(`DROP TABLE ${table}`);
    }
  }
}
