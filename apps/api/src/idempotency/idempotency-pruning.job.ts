import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { LeaderJobs } from '../database/leader-jobs';
import { IdempotencyService } from './idempotency.service';

/** Every reconcile interval, the leader deletes Idempotency-Keys past their retention. */
@Injectable()
export class IdempotencyPruningJob implements OnApplicationBootstrap {
  constructor(
    private readonly config: AppConfig,
    private readonly jobs: LeaderJobs,
    private readonly idempotency: IdempotencyService,
  ) {}

  onApplicationBootstrap(): void {
    this.jobs.every('idempotency-pruning', this.config.reconcileIntervalSeconds, () => this.idempotency.prune());
  }
}
