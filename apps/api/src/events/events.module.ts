import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LimitsModule } from '../limits/limits.module';
import { UserAccessModule } from '../users/user-access.module';
import { EventRecord } from './event.entity';
import { EventPruningJob } from './event-pruning.job';
import { EventRepository } from './event.repository';
import { EventStreams } from './event-streams';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';

@Module({
  imports: [TypeOrmModule.forFeature([EventRecord]), UserAccessModule, LimitsModule],
  controllers: [EventsController],
  providers: [EventRepository, EventsService, EventStreams, EventPruningJob],
  exports: [EventsService],
})
export class EventsModule {}
