import { Module } from '@nestjs/common';
import { AgentProxyModule } from '../agent-proxy/agent-proxy.module';
import { EventsModule } from '../events/events.module';
import { QuotasModule } from '../quotas/quotas.module';
import { VmDataModule } from '../vms/vm-data.module';
import { AlertChannelsController } from './alert-channels.controller';
import { AlertChannelsService } from './alert-channels.service';
import { AlertDataModule } from './alert-data.module';
import { AlertEvaluator } from './alert-evaluator';
import { AlertNotifier } from './alert-notifier';
import { AlertRulesController } from './alert-rules.controller';
import { AlertRulesService } from './alert-rules.service';
import { AlertSampler } from './alert-sampler';
import { AlertsController } from './alerts.controller';
import { AlertsService } from './alerts.service';
import { EmailSender } from './channels/email.sender';
import { LogSender } from './channels/log.sender';
import { WebhookSender } from './channels/webhook.sender';

/** Rules, their scheduled evaluation, alert instances and notification channels. */
@Module({
  imports: [AlertDataModule, VmDataModule, QuotasModule, AgentProxyModule, EventsModule],
  controllers: [AlertsController, AlertRulesController, AlertChannelsController],
  providers: [
    AlertSampler,
    AlertEvaluator,
    AlertNotifier,
    WebhookSender,
    EmailSender,
    LogSender,
    AlertRulesService,
    AlertChannelsService,
    AlertsService,
  ],
})
export class AlertingModule {}
