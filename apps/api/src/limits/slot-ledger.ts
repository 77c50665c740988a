import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { UserSlots } from '../common/user-slots';
import { AppConfig } from '../config/app-config';
import { LimitSlotRepository } from './limit-slot.repository';

export type SlotKind = 'console' | 'sse';

/** Each replica refreshes its slots this often; a slot not refreshed for STALE_SECONDS is free again. */
const REFRESH_MS = 10_000;
export const STALE_SECONDS = 35;

/**
 * Per-user caps on long-lived things (console sessions, event streams). With LIMITS_STORE=postgres
 * a slot is a row every replica counts, so the cap holds across replicas; a replica that dies
 * stops refreshing its rows and they free themselves after STALE_SECONDS. With `replica` the
 * slots are counted in this process alone.
 */
@Injectable()
export class SlotLedger implements OnApplicationShutdown {
  private readonly logger = new Logger('SlotLedger');
  private readonly holder = `${hostname()}:${process.pid}:${randomUUID()}`.slice(0, 128);
  private readonly local = new Map<SlotKind, UserSlots>();
  private readonly shared: boolean;
  private sharedHeld = 0;
  private readonly refresher?: NodeJS.Timeout;

  constructor(
    config: AppConfig,
    private readonly slots: LimitSlotRepository,
  ) {
    this.shared = config.sharedLimits.store === 'postgres';
    if (this.shared)
      this.refresher = setInterval(() => {
        if (this.sharedHeld > 0) void this.slots.refresh(this.holder).catch((e: Error) => this.warn(e));
      }, REFRESH_MS).unref();
  }

  /** Slots `userId` holds (on every replica when shared). */
  async held(kind: SlotKind, userId: string): Promise<number> {
    if (!this.shared) return this.localSlots(kind).heldBy(userId);
    return this.slots.held(kind, userId, STALE_SECONDS);
  }

  /** Takes a slot unless the user holds `limit` already (null then); the release is idempotent. */
  async take(kind: SlotKind, userId: string, limit: number): Promise<(() => void) | null> {
    if (!this.shared) {
      const slots = this.localSlots(kind);
      return slots.heldBy(userId) < limit ? slots.take(userId) : null;
    }
    const id = await this.slots.take(kind, userId, this.holder, limit, STALE_SECONDS);
    if (id === null) return null;
    this.sharedHeld++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.sharedHeld--;
      void this.slots.release(id).catch((e: Error) => this.warn(e));
    };
  }

  onApplicationShutdown(): void {
    clearInterval(this.refresher);
  }

  private localSlots(kind: SlotKind): UserSlots {
    let slots = this.local.get(kind);
    if (!slots) this.local.set(kind, (slots = new UserSlots()));
    return slots;
  }

  private warn(error: Error): void {
    this.logger.warn(`limit slots: ${error.message}`);
  }
}
