import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { LeaderJobs } from '../database/leader-jobs';
import { OperationRunner } from './operation-runner';

/** Every reconcile interval, the leader resumes operations their replica left unfinished (OperationRunner.recover). */
@Injectable()
export class OperationRecoveryJob implements OnApplicationBootstrap {
  constructor(
    private readonly config: AppConfig,
    private readonly jobs: LeaderJobs,
    private readonly runner: OperationRunner,
  ) {}

  onApplicationBootstrap(): void {
    this.jobs.every('operation-recovery', this.config.reconcileIntervalSeconds, () => this.runner.recover());
  }
}
