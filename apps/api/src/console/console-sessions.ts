import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { UserSlots } from '../common/user-slots';
import { MetricsService } from '../metrics/metrics.service';

/**
 * Counts the console sessions of each user on this replica and enforces
 * CONSOLE_MAX_SESSIONS_PER_USER. A slot is taken before the (slow) connection
 * to the VM is made, so concurrent connects cannot overshoot the limit.
 */
@Injectable()
export class ConsoleSessions {
  private readonly slots = new UserSlots();

  constructor(
    private readonly config: AppConfig,
    metrics: MetricsService,
  ) {
    const { slots } = this;
    new Gauge({
      name: 'limen_console_sessions',
      help: 'Open console WebSocket sessions on this replica',
      registers: [metrics.registry],
      collect() {
        this.set(slots.total);
      },
    });
  }

  get limit(): number {
    return this.config.console.maxSessionsPerUser;
  }

  hasRoom(userId: string): boolean {
    return this.slots.heldBy(userId) < this.limit;
  }

  /** Takes a slot; the returned release is idempotent. null when the user is at the limit. */
  acquire(userId: string): (() => void) | null {
    return this.hasRoom(userId) ? this.slots.take(userId) : null;
  }
}
