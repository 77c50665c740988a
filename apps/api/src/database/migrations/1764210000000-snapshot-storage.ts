import { MigrationInterface, QueryRunner } from 'typeorm';

/** The storage each snapshot takes on its VM's disk, counted against the owner's disk quota (QuotaLedger). */
export class SnapshotStorage1764210000000 implements MigrationInterface {
  name = 'SnapshotStorage1764210000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE snapshots ADD COLUMN size_mib integer NOT NULL DEFAULT 0 CHECK (size_mib >= 0)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE snapshots DROP COLUMN size_mib`);
  }
}
