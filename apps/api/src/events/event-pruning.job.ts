import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { LeaderJobs } from '../database/leader-jobs';
import { EventsService } from './events.service';

/** Bounded retention of the replay log: events older than EVENT_RETENTION_HOURS go, every reconcile interval. */
@Injectable()
export class EventPruningJob implements OnApplicationBootstrap {
  constructor(
    private readonly config: AppConfig,
    private readonly jobs: LeaderJobs,
    private readonly events: EventsService,
  ) {}

  onApplicationBootstrap(): void {
    this.jobs.every('event-pruning', this.config.reconcileIntervalSeconds, () =>
      this.events.prune(this.config.eventRetentionHours),
    );
  }
}
