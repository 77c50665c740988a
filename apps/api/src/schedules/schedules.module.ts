import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { VmsModule } from '../vms/vms.module';
import { ScheduleRepository } from './schedule.repository';
import { ScheduleRunnerJob } from './schedule-runner.job';
import { ScheduleRunners } from './schedule-runners';
import { Schedule } from './schedule.entity';
import { SchedulesController } from './schedules.controller';
import { SchedulesService } from './schedules.service';

/**
 * Schedules of snapshots and backups. The modules owning those copies import this one to register
 * their ScheduleRunner (in onModuleInit).
 */
@Module({
  imports: [TypeOrmModule.forFeature([Schedule]), VmsModule],
  controllers: [SchedulesController],
  providers: [ScheduleRunners, ScheduleRepository, SchedulesService, ScheduleRunnerJob],
  exports: [ScheduleRunners],
})
export class SchedulesModule {}
