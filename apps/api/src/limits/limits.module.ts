import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { FixedWindowThrottlerStorage } from './fixed-window-throttler-storage';
import { LeasedThrottlerStorage } from './leased-throttler-storage';
import { LimitSlotRepository } from './limit-slot.repository';
import { RateLimitWindowRepository } from './rate-limit-window.repository';
import { SlotLedger } from './slot-ledger';

/** The ThrottlerStorage the rate limits count in: this process's memory, or the shared PostgreSQL. */
export const RATE_LIMIT_STORAGE = Symbol('RATE_LIMIT_STORAGE');

/** Where limits are counted: per replica or shared by all (LIMITS_STORE). */
@Module({
  providers: [
    RateLimitWindowRepository,
    LimitSlotRepository,
    SlotLedger,
    {
      provide: RATE_LIMIT_STORAGE,
      inject: [AppConfig, RateLimitWindowRepository],
      useFactory: (config: AppConfig, windows: RateLimitWindowRepository) =>
        config.sharedLimits.store === 'postgres'
          ? new LeasedThrottlerStorage(windows)
          : new FixedWindowThrottlerStorage(),
    },
  ],
  exports: [RATE_LIMIT_STORAGE, SlotLedger],
})
export class LimitsModule {}
