import { Injectable } from '@nestjs/common';
import { Schedule, ScheduleKind } from './schedule.entity';

/** A copy a schedule made (a snapshot or a backup), as its retention sees it. */
export interface ScheduledCopy {
  id: string;
  createdAt: Date;
  /** Only ready copies count: one still being made or failed is never "the last good copy". */
  ready: boolean;
}

/**
 * What the schedules module needs of the module owning one kind of copy: take one now (as an
 * operation of the schedule's owner, like a request would), list the copies the schedule made, and
 * delete one (retention).
 */
export interface ScheduleRunner {
  /** Accepts the copy's operation; throws an AppException when it cannot (quota, VM state, busy). */
  run(schedule: Schedule, slot: Date): Promise<{ operationId: string }>;
  copies(schedule: Schedule): Promise<ScheduledCopy[]>;
  remove(schedule: Schedule, copyId: string): Promise<void>;
}

/** The runners by kind: the snapshots module registers `snapshot`, the backups module `backup`. */
@Injectable()
export class ScheduleRunners {
  private readonly runners = new Map<ScheduleKind, ScheduleRunner>();

  register(kind: ScheduleKind, runner: ScheduleRunner): void {
    this.runners.set(kind, runner);
  }

  of(kind: ScheduleKind): ScheduleRunner {
    const runner = this.runners.get(kind);
    if (!runner) throw new Error(`no schedule runner registered for ${kind}`);
    return runner;
  }
}
