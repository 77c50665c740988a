import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A console ticket records the access token it was requested with (its token version and expiry),
 * so the session it opens ends when that token would be refused or expires, like an event stream.
 * Tickets live 60 s: those issued before this change are dropped rather than given made-up values.
 */
export class ConsoleTicketAccess1764220000000 implements MigrationInterface {
  name = 'ConsoleTicketAccess1764220000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM console_tickets`);
    await q.query(
      `ALTER TABLE console_tickets ADD COLUMN token_version integer NOT NULL, ADD COLUMN access_expires_at timestamptz(3) NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE console_tickets DROP COLUMN token_version, DROP COLUMN access_expires_at`);
  }
}
