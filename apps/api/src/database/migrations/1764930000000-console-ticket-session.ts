import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A console ticket records the sign-in session (refresh-token family) of the access token it was
 * requested with, so its console closes when that session is revoked or signed out. Null for an
 * API token's ticket and for tickets issued before this change (they live 60 s).
 */
export class ConsoleTicketSession1764930000000 implements MigrationInterface {
  name = 'ConsoleTicketSession1764930000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE console_tickets ADD COLUMN session_id uuid`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE console_tickets DROP COLUMN session_id`);
  }
}
