import { DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { LoggerModule } from 'nestjs-pino';
import { AgentProxyModule } from './agent-proxy/agent-proxy.module';
import { AlertingModule } from './alerting/alerting.module';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { OidcModule } from './oidc/oidc.module';
import { BackupsModule } from './backups/backups.module';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { ConsoleModule } from './console/console.module';
import { loggerParams } from './common/logging';
import { DatabaseModule } from './database/database.module';
import { DisksModule } from './disks/disks.module';
import { EventsModule } from './events/events.module';
import { EventStreamsModule } from './events/event-streams.module';
import { HealthModule } from './health/health.module';
import { HostsModule } from './hosts/hosts.module';
import { HypervisorModule } from './hypervisor/hypervisor.module';
import { MetricsModule } from './metrics/metrics.module';
import { NetworksModule } from './networks/networks.module';
import { ImagesModule } from './images/images.module';
import { TemplatesModule } from './images/templates.module';
import { OperationsModule } from './operations/operations.module';
import { QuotasModule } from './quotas/quotas.module';
import { SchedulesModule } from './schedules/schedules.module';
import { SnapshotsModule } from './snapshots/snapshots.module';
import { SshKeysModule } from './ssh-keys/ssh-keys.module';
import { TokensModule } from './tokens/tokens.module';
import { VmsModule } from './vms/vms.module';
import { VmClonesModule } from './vms/vm-clones.module';
import { UsersModule } from './users/users.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot(loggerParams(config)),
        ScheduleModule.forRoot(),
        DatabaseModule,
        MetricsModule,
        AuditModule,
        HypervisorModule,
        HostsModule,
        UsersModule,
        AuthModule,
        TokensModule,
        OidcModule,
        HealthModule,
        EventsModule,
        EventStreamsModule,
        ImagesModule,
        TemplatesModule,
        QuotasModule,
        OperationsModule,
        VmsModule,
        VmClonesModule,
        SnapshotsModule,
        SchedulesModule,
        BackupsModule,
        NetworksModule,
        DisksModule,
        SshKeysModule,
        AgentProxyModule,
        AlertingModule,
        ConsoleModule,
      ],
    };
  }
}
