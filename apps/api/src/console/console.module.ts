import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { LimitsModule } from '../limits/limits.module';
import { UsersModule } from '../users/users.module';
import { VmsModule } from '../vms/vms.module';
import { ConsoleGateway } from './console-gateway';
import { ConsolePageController } from './console-page.controller';
import { ConsoleSessions } from './console-sessions';
import { ConsoleTicketRepository } from './console-ticket.repository';
import { ConsoleTickets } from './console-tickets';
import { ConsoleController } from './console.controller';
import { ConsoleService } from './console.service';
import { UpgradeRefusals } from './upgrade-refusals';

/** VM consoles: tickets over REST, the WebSocket relay, and the browser page. */
@Module({
  imports: [AuthModule, UsersModule, VmsModule, LimitsModule],
  controllers: [ConsoleController, ConsolePageController],
  providers: [
    ConsoleService,
    ConsoleTickets,
    ConsoleTicketRepository,
    ConsoleSessions,
    ConsoleGateway,
    UpgradeRefusals,
  ],
})
export class ConsoleModule {}
