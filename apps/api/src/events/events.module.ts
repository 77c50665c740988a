import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EventRecord } from './event.entity';
import { EventPruningJob } from './event-pruning.job';
import { EventRepository } from './event.repository';
import { EventsService } from './events.service';

/** The event log and its fan-out, which every module that raises events imports; the HTTP stream is EventStreamsModule. */
@Module({
  imports: [TypeOrmModule.forFeature([EventRecord])],
  providers: [EventRepository, EventsService, EventPruningJob],
  exports: [EventsService],
})
export class EventsModule {}
