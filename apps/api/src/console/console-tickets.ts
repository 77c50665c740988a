import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AccessTokenInfo } from '../auth/decorators';

export const CONSOLE_TYPES = ['vnc', 'serial'] as const;
export type ConsoleType = (typeof CONSOLE_TYPES)[number];

/** How long a ticket may wait before its WebSocket connects. */
export const TICKET_TTL_SECONDS = 60;
/** Spent and expired tickets are kept this long (for investigations), then pruned. */
const TICKET_RETENTION = '1 hour';
/** 32 random bytes in base64url, without padding. */
const TICKET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface RedeemedTicket {
  userId: string;
  vmId: string;
  type: ConsoleType;
  /** The access token the ticket was requested with: the session lives no longer than it would be accepted. */
  accessToken: AccessTokenInfo;
}

function hashOf(ticket: string): string {
  return createHash('sha256').update(ticket).digest('hex');
}

/**
 * Single-use console tickets. They live in PostgreSQL (as SHA-256 hashes only),
 * so any api replica can redeem a ticket another issued, and the clock that
 * expires them is the database's, the same for every replica.
 */
@Injectable()
export class ConsoleTickets {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async issue(
    userId: string,
    accessToken: AccessTokenInfo,
    vmId: string,
    type: ConsoleType,
  ): Promise<{ ticket: string; expiresAt: Date }> {
    const ticket = randomBytes(32).toString('base64url');
    const [row]: Array<{ expires_at: Date }> = await this.dataSource.query(
      `INSERT INTO console_tickets (token_hash, user_id, vm_id, type, expires_at, token_version, access_expires_at)
       VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6, $7)
       RETURNING expires_at`,
      [hashOf(ticket), userId, vmId, type, TICKET_TTL_SECONDS, accessToken.version, accessToken.expiresAt],
    );
    await this.dataSource.query(
      `DELETE FROM console_tickets WHERE expires_at < now() - interval '${TICKET_RETENTION}'`,
    );
    return { ticket, expiresAt: new Date(row.expires_at) };
  }

  /**
   * Spends the ticket in one statement, so of two concurrent redeemers (on any
   * replicas) exactly one wins. null when it is unknown, spent or expired.
   */
  async redeem(ticket: string): Promise<RedeemedTicket | null> {
    if (!TICKET_SHAPE.test(ticket)) return null;
    // TypeORM's postgres driver answers an UPDATE ... RETURNING with [rows, rowCount].
    const [rows]: [
      Array<{ user_id: string; vm_id: string; type: ConsoleType; token_version: number; access_expires_at: Date }>,
      number,
    ] = await this.dataSource.query(
      `UPDATE console_tickets SET used_at = now()
       WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
       RETURNING user_id, vm_id, type, token_version, access_expires_at`,
      [hashOf(ticket)],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      userId: row.user_id,
      vmId: row.vm_id,
      type: row.type,
      accessToken: { version: row.token_version, expiresAt: new Date(row.access_expires_at) },
    };
  }
}
