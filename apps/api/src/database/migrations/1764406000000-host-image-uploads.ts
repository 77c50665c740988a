import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `host_images.heartbeat_at`: an upload in progress touches it; one whose heartbeat stopped (its
 * process died) is taken over by the next caller or cleaned up by the sweep, instead of waited for.
 */
export class HostImageUploads1764406000000 implements MigrationInterface {
  name = 'HostImageUploads1764406000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE host_images ADD COLUMN heartbeat_at timestamptz(3) NOT NULL DEFAULT now()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE host_images DROP COLUMN heartbeat_at`);
  }
}
