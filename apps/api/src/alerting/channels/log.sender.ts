import { Injectable, Logger } from '@nestjs/common';
import type { AlertChannel } from '../alert-channel.entity';
import { ChannelSender, headline, Notification } from './notification';

/** Writes the notification to the api's log (JSON lines): firing at warn, the rest at info. */
@Injectable()
export class LogSender implements ChannelSender {
  private readonly logger = new Logger('Alerts');

  async send(channel: AlertChannel, notification: Notification): Promise<void> {
    const line = {
      channel: channel.name,
      notification: notification.id,
      alert: notification.alert,
      msg: headline(notification),
    };
    if (notification.event === 'firing') this.logger.warn(line);
    else this.logger.log(line);
  }
}
