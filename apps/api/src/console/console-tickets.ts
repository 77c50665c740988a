import { Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { AccessTokenInfo } from '../auth/decorators';
import { ConsoleTicketRepository } from './console-ticket.repository';
import { ConsoleType } from './console-type';

/** How long a ticket may wait before its WebSocket connects. */
export const TICKET_TTL_SECONDS = 60;
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
  constructor(private readonly tickets: ConsoleTicketRepository) {}

  async issue(
    userId: string,
    accessToken: AccessTokenInfo,
    vmId: string,
    type: ConsoleType,
  ): Promise<{ ticket: string; expiresAt: Date }> {
    const ticket = randomBytes(32).toString('base64url');
    const expiresAt = await this.tickets.add({
      tokenHash: hashOf(ticket),
      userId,
      vmId,
      type,
      ttlSeconds: TICKET_TTL_SECONDS,
      tokenVersion: accessToken.version,
      accessExpiresAt: accessToken.expiresAt,
      sessionId: accessToken.sessionId ?? null,
    });
    await this.tickets.pruneExpired();
    return { ticket, expiresAt };
  }

  /** Spends the ticket; of two concurrent redeemers exactly one wins. null when it is unknown, spent or expired. */
  async redeem(ticket: string): Promise<RedeemedTicket | null> {
    if (!TICKET_SHAPE.test(ticket)) return null;
    const spent = await this.tickets.spend(hashOf(ticket));
    if (!spent) return null;
    return {
      userId: spent.userId,
      vmId: spent.vmId,
      type: spent.type,
      accessToken: {
        version: spent.tokenVersion,
        expiresAt: spent.accessExpiresAt,
        sessionId: spent.sessionId ?? undefined,
      },
    };
  }
}
