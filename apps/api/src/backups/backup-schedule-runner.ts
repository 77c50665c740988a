import { Injectable, OnModuleInit } from '@nestjs/common';
import { Schedule } from '../schedules/schedule.entity';
import { ScheduledCopy, ScheduleRunner, ScheduleRunners } from '../schedules/schedule-runners';
import { BackupRepository } from './backup.repository';
import { BackupsService } from './backups.service';

/** Scheduled backups: taken as the schedule's owner would ask for one, and removed by its retention. */
@Injectable()
export class BackupScheduleRunner implements ScheduleRunner, OnModuleInit {
  constructor(
    private readonly runners: ScheduleRunners,
    private readonly service: BackupsService,
    private readonly backups: BackupRepository,
  ) {}

  onModuleInit(): void {
    this.runners.register('backup', this);
  }

  async run(schedule: Schedule): Promise<{ operationId: string }> {
    const owner = { id: schedule.ownerId, username: '', role: 'user' as const };
    const accepted = await this.service.create(owner, schedule.vmId, undefined, schedule.id);
    return { operationId: accepted.operation.id };
  }

  async copies(schedule: Schedule): Promise<ScheduledCopy[]> {
    return (await this.backups.ofSchedule(schedule.id)).map((backup) => ({
      id: backup.id,
      createdAt: backup.createdAt,
      ready: backup.state === 'ready' || backup.state === 'restoring',
    }));
  }

  /** Deletes the schedule's backup as its owner would (409 while it is restored from); another's is left alone. */
  async remove(schedule: Schedule, copyId: string): Promise<void> {
    const backup = await this.backups.find(copyId);
    if (!backup || backup.scheduleId !== schedule.id) return;
    await this.service.remove({ id: backup.ownerId, username: '', role: 'user' }, copyId);
  }
}
