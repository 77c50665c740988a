import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `hosts.storage`: the host's LIMEN storage pools (capacity, allocation, available bytes) as the
 * host monitor last read them, with when, and why its VM pool could not be set up if it could not.
 * Placement skips hosts whose VM pool is full by it; the host list shows it without asking every host.
 */
export class HostStoragePools1764405000000 implements MigrationInterface {
  name = 'HostStoragePools1764405000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE hosts ADD COLUMN storage jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE hosts DROP COLUMN storage`);
  }
}
