import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ScheduleRunners } from './schedule-runners';
import { Schedule } from './schedule.entity';

/**
 * Schedules of snapshots and backups. The modules owning those copies import this one to register
 * their ScheduleRunner (in onModuleInit).
 */
@Module({
  imports: [TypeOrmModule.forFeature([Schedule])],
  providers: [ScheduleRunners],
  exports: [ScheduleRunners],
})
export class SchedulesModule {}
