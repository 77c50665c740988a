import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { AppConfig } from '../config/app-config';

/** The window of both the limit and the aggregation, like the credential routes' per-IP limit. */
export const REFUSAL_WINDOW_MS = 60_000;
/** An attacker chooses the User-Agent; the audit trail keeps enough of it to recognise a client. */
export const AUDITED_USER_AGENT_CHARS = 128;

/** One refused console upgrade, as the audit trail records it. */
export interface RefusedUpgrade {
  ip: string;
  vmId: string;
  statusCode: number;
  errorCode: string;
  userAgent: string | null;
}

interface Window {
  /**
   * What the limit counts: upgrades of this client IP admitted in the window, less those that
   * connected. Counted on admission, not on refusal, so a burst of concurrent attempts cannot all
   * pass the check before the first of them is refused.
   */
  charged: number;
  resetsAt: number;
  /** Per kind of refusal (VM, status, code): how many there were after the first, which was recorded at once. */
  repeats: Map<string, { first: RefusedUpgrade; count: number }>;
  flush: NodeJS.Timeout;
}

/**
 * Refused console WebSocket upgrades, per client IP. Each refusal cost a ticket lookup and an
 * audit row, and upgrades sit outside the api's rate limits, so anyone could flood the
 * append-only audit log (2,000 rows with a chosen 512-byte User-Agent in 6 s). Now:
 *
 * - past AUTH_RATE_LIMIT_PER_MINUTE refusals in a minute (the same budget as failed logins from
 *   one IP), the IP's upgrades are answered 429 without looking at the ticket until the minute ends;
 * - the first refusal of each kind (VM, status, code) in an IP's minute is recorded at once, and
 *   the repeats as one row with their count when the minute ends (or at shutdown); the User-Agent
 *   is cut to AUDITED_USER_AGENT_CHARS.
 *
 * Counters live in this process, like the other rate limits.
 */
@Injectable()
export class UpgradeRefusals implements OnApplicationShutdown {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly audit: AuditService,
    private readonly config: AppConfig,
  ) {}

  /**
   * Admits an upgrade from `ip` to be checked, charging it to the IP's window (see `connected`):
   * 0, or the seconds until the IP may try again when it has used up its refusals.
   */
  admit(ip: string): number {
    const window = this.window(ip);
    if (window.charged >= this.config.authRateLimitPerMinute)
      return Math.max(1, Math.ceil((window.resetsAt - Date.now()) / 1000));
    window.charged++;
    return 0;
  }

  /** An admitted upgrade connected: it was no refusal, and gives its charge back. */
  connected(ip: string): void {
    const window = this.windows.get(ip);
    if (window && window.charged > 0) window.charged--;
  }

  /** Records a refusal in the audit trail, or adds it to the count of its kind. */
  record(refusal: RefusedUpgrade): void {
    const window = this.window(refusal.ip);
    const kind = `${refusal.vmId}|${refusal.statusCode}|${refusal.errorCode}`;
    const seen = window.repeats.get(kind);
    if (seen) seen.count++;
    else {
      window.repeats.set(kind, { first: refusal, count: 0 });
      this.write(refusal, null);
    }
  }

  private window(ip: string): Window {
    let window = this.windows.get(ip);
    if (!window) {
      window = {
        charged: 0,
        resetsAt: Date.now() + REFUSAL_WINDOW_MS,
        repeats: new Map(),
        flush: setTimeout(() => this.close(ip), REFUSAL_WINDOW_MS).unref(),
      };
      this.windows.set(ip, window);
    }
    return window;
  }

  onApplicationShutdown(): void {
    for (const ip of [...this.windows.keys()]) this.close(ip);
  }

  private close(ip: string): void {
    const window = this.windows.get(ip);
    if (!window) return;
    clearTimeout(window.flush);
    this.windows.delete(ip);
    for (const { first, count } of window.repeats.values())
      if (count > 0) this.write(first, { repeatedRefusals: count, windowSeconds: REFUSAL_WINDOW_MS / 1000 });
  }

  private write(refusal: RefusedUpgrade, details: Record<string, unknown> | null): void {
    void this.audit.record({
      actorId: null,
      actorUsername: null,
      action: 'console.connect',
      targetType: 'console',
      targetId: refusal.vmId,
      result: 'failure',
      statusCode: refusal.statusCode,
      errorCode: refusal.errorCode,
      requestId: null,
      ip: refusal.ip,
      userAgent: refusal.userAgent?.slice(0, AUDITED_USER_AGENT_CHARS) ?? null,
      before: null,
      after: null,
      details,
    });
  }
}
