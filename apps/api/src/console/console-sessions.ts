import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { UserSlots } from '../common/user-slots';
import { SlotLedger } from '../limits/slot-ledger';
import { MetricsService } from '../metrics/metrics.service';

/**
 * Enforces CONSOLE_MAX_SESSIONS_PER_USER, across replicas when limits are shared (SlotLedger),
 * and counts this replica's sessions for the gauge. A slot is taken before the (slow) connection
 * to the VM is made, so concurrent connects cannot overshoot the limit.
 */
@Injectable()
export class ConsoleSessions {
  private readonly slots = new UserSlots();

  constructor(
    private readonly config: AppConfig,
    private readonly ledger: SlotLedger,
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

  async hasRoom(userId: string): Promise<boolean> {
    return (await this.ledger.held('console', userId)) < this.limit;
  }

  /** Takes a slot; the returned release is idempotent. null when the user is at the limit. */
  async acquire(userId: string): Promise<(() => void) | null> {
    const releaseShared = await this.ledger.take('console', userId, this.limit);
    if (!releaseShared) return null;
    const releaseLocal = this.slots.take(userId);
    return () => {
      releaseLocal();
      releaseShared();
    };
  }
}
