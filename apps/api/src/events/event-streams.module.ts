import { Module } from '@nestjs/common';
import { LimitsModule } from '../limits/limits.module';
import { UserAccessModule } from '../users/user-access.module';
import { VmsModule } from '../vms/vms.module';
import { EventStreams } from './event-streams';
import { EventsController } from './events.controller';
import { EventsModule } from './events.module';

/**
 * The SSE stream (`GET /api/v1/events`): apart from EventsModule because a stream of one VM's
 * events needs VMs (VmAccess), whose modules import EventsModule to raise events.
 */
@Module({
  imports: [EventsModule, LimitsModule, UserAccessModule, VmsModule],
  controllers: [EventsController],
  providers: [EventStreams],
})
export class EventStreamsModule {}
