import { Injectable, OnModuleInit } from '@nestjs/common';
import { Schedule } from '../schedules/schedule.entity';
import { ScheduledCopy, ScheduleRunner, ScheduleRunners } from '../schedules/schedule-runners';
import { SnapshotsService } from './snapshots.service';

/** How long retention waits for one snapshot.delete before leaving the rest to the next tick. */
const REMOVE_TIMEOUT_MS = 120_000;

/** Scheduled snapshots: a schedule of kind `snapshot` takes and trims internal snapshots of its VM. */
@Injectable()
export class SnapshotScheduleRunner implements ScheduleRunner, OnModuleInit {
  constructor(
    private readonly runners: ScheduleRunners,
    private readonly snapshots: SnapshotsService,
  ) {}

  onModuleInit(): void {
    this.runners.register('snapshot', this);
  }

  async run(schedule: Schedule, slot: Date): Promise<{ operationId: string }> {
    return { operationId: (await this.snapshots.createForSchedule(schedule, slot)).operation.id };
  }

  async copies(schedule: Schedule): Promise<ScheduledCopy[]> {
    return (await this.snapshots.ofSchedule(schedule.id)).map((s) => ({
      id: s.id,
      createdAt: s.createdAt,
      ready: s.state === 'ready',
    }));
  }

  remove(schedule: Schedule, copyId: string): Promise<void> {
    return this.snapshots.removeForSchedule(schedule, copyId, REMOVE_TIMEOUT_MS);
  }
}
