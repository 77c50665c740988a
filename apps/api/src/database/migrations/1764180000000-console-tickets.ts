import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Console tickets live in the database, not in one replica's memory, so a
 * ticket issued by one api replica can be redeemed by whichever replica the
 * WebSocket lands on. Only the SHA-256 of a ticket is stored.
 */
export class ConsoleTickets1764180000000 implements MigrationInterface {
  name = 'ConsoleTickets1764180000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE console_tickets (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        token_hash char(64) NOT NULL UNIQUE,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        vm_id uuid NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
        type varchar(8) NOT NULL CHECK (type IN ('vnc', 'serial')),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        expires_at timestamptz(3) NOT NULL,
        used_at timestamptz(3)
      )`);
    await q.query(`CREATE INDEX console_tickets_expires_at_idx ON console_tickets (expires_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE console_tickets`);
  }
}
