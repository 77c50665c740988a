import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';

/**
 * Counts the console sessions of each user on this replica and enforces
 * CONSOLE_MAX_SESSIONS_PER_USER. A slot is taken before the (slow) connection
 * to the VM is made, so concurrent connects cannot overshoot the limit.
 */
@Injectable()
export class ConsoleSessions {
  private readonly perUser = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly config: AppConfig,
    metrics: MetricsService,
  ) {
    const sessions = this;
    new Gauge({
      name: 'limen_console_sessions',
      help: 'Open console WebSocket sessions on this replica',
      registers: [metrics.registry],
      collect() {
        this.set(sessions.total);
      },
    });
  }

  get limit(): number {
    return this.config.console.maxSessionsPerUser;
  }

  hasRoom(userId: string): boolean {
    return (this.perUser.get(userId) ?? 0) < this.limit;
  }

  /** Takes a slot; the returned release is idempotent. null when the user is at the limit. */
  acquire(userId: string): (() => void) | null {
    if (!this.hasRoom(userId)) return null;
    this.perUser.set(userId, (this.perUser.get(userId) ?? 0) + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.perUser.get(userId) ?? 1) - 1;
      if (left > 0) this.perUser.set(userId, left);
      else this.perUser.delete(userId);
    };
  }
}
