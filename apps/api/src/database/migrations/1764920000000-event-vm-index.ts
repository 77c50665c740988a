import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One VM's events (GET /api/v1/events?vmId=) are read in id order after a Last-Event-ID: without
 * this index, replaying a quiet VM's few events from 0 would scan the whole retained log.
 */
export class EventVmIndex1764920000000 implements MigrationInterface {
  name = 'EventVmIndex1764920000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX events_vm_id_id_idx ON events (vm_id, id) WHERE vm_id IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX events_vm_id_id_idx`);
  }
}
