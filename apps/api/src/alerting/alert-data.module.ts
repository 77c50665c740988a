import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AlertChannel } from './alert-channel.entity';
import { AlertChannelRepository } from './alert-channel.repository';
import { AlertRule } from './alert-rule.entity';
import { AlertRuleRepository } from './alert-rule.repository';
import { AlertSilence } from './alert-silence.entity';
import { AlertSilenceRepository } from './alert-silence.repository';
import { Alert } from './alert.entity';
import { AlertRepository } from './alert.repository';

const REPOSITORIES = [AlertRuleRepository, AlertChannelRepository, AlertRepository, AlertSilenceRepository];

/** The alerting tables' owners, apart from AlertingModule so that metrics can count alerts without its jobs. */
@Module({
  imports: [TypeOrmModule.forFeature([AlertRule, AlertChannel, Alert, AlertSilence])],
  providers: REPOSITORIES,
  exports: REPOSITORIES,
})
export class AlertDataModule {}
