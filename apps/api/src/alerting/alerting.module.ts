import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AgentProxyModule } from '../agent-proxy/agent-proxy.module';
import { EventsModule } from '../events/events.module';
import { AlertChannel } from './alert-channel.entity';
import { AlertChannelsController } from './alert-channels.controller';
import { AlertChannelsService } from './alert-channels.service';
import { AlertEvaluator } from './alert-evaluator';
import { AlertNotifier } from './alert-notifier';
import { AlertRule } from './alert-rule.entity';
import { AlertRulesController } from './alert-rules.controller';
import { AlertRulesService } from './alert-rules.service';
import { AlertSampler } from './alert-sampler';
import { AlertSilence } from './alert-silence.entity';
import { Alert } from './alert.entity';
import { AlertsController } from './alerts.controller';
import { AlertsService } from './alerts.service';
import { EmailSender } from './channels/email.sender';
import { LogSender } from './channels/log.sender';
import { WebhookSender } from './channels/webhook.sender';

/** Rules, their scheduled evaluation, alert instances and notification channels. */
@Module({
  imports: [TypeOrmModule.forFeature([AlertRule, AlertChannel, Alert, AlertSilence]), AgentProxyModule, EventsModule],
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
