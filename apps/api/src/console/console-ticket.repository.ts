import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import type { ConsoleType } from './console-type';

/** Spent and expired tickets are kept this long (for investigations), then pruned. */
const TICKET_RETENTION = '1 hour';

export interface NewConsoleTicket {
  tokenHash: string;
  userId: string;
  vmId: string;
  type: ConsoleType;
  ttlSeconds: number;
  tokenVersion: number;
  accessExpiresAt: Date;
  /** The sign-in session of that access token; null for an API token or a token without one. */
  sessionId: string | null;
}

export interface SpentConsoleTicket {
  userId: string;
  vmId: string;
  type: ConsoleType;
  tokenVersion: number;
  accessExpiresAt: Date;
  /** The sign-in session of that access token; null for an API token or a token without one. */
  sessionId: string | null;
}

/** The one owner of `console_tickets`. Expiry is the database's clock, the same for every replica. */
@Injectable()
export class ConsoleTicketRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** Stores a ticket valid for `ttlSeconds` from now; returns when it expires. */
  async add(ticket: NewConsoleTicket): Promise<Date> {
    const [row] = await this.query<{ expires_at: Date }>(
      undefined,
      `INSERT INTO console_tickets (token_hash, user_id, vm_id, type, expires_at, token_version, access_expires_at, session_id)
       VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6, $7, $8)
       RETURNING expires_at`,
      [
        ticket.tokenHash,
        ticket.userId,
        ticket.vmId,
        ticket.type,
        ticket.ttlSeconds,
        ticket.tokenVersion,
        ticket.accessExpiresAt,
        ticket.sessionId,
      ],
    );
    return new Date(row.expires_at);
  }

  async pruneExpired(): Promise<void> {
    await this.query(
      undefined,
      `DELETE FROM console_tickets WHERE expires_at < now() - interval '${TICKET_RETENTION}'`,
    );
  }

  /**
   * Spends the ticket in one statement, so of two concurrent redeemers (on any replicas) exactly
   * one wins. null when it is unknown, spent or expired.
   */
  async spend(tokenHash: string): Promise<SpentConsoleTicket | null> {
    // TypeORM's postgres driver answers an UPDATE ... RETURNING with [rows, rowCount].
    const [rows]: [
      Array<{
        user_id: string;
        vm_id: string;
        type: ConsoleType;
        token_version: number;
        access_expires_at: Date;
        session_id: string | null;
      }>,
      number,
    ] = await this.manager().query(
      `UPDATE console_tickets SET used_at = now()
       WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
       RETURNING user_id, vm_id, type, token_version, access_expires_at, session_id`,
      [tokenHash],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      userId: row.user_id,
      vmId: row.vm_id,
      type: row.type,
      tokenVersion: row.token_version,
      accessExpiresAt: new Date(row.access_expires_at),
      sessionId: row.session_id,
    };
  }
}
