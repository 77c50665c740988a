import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { severityAtLeast } from './alert-metrics';
import { AlertChannel, ChannelType } from './alert-channel.entity';
import { AlertChannelRepository } from './alert-channel.repository';
import { EmailSender } from './channels/email.sender';
import { LogSender } from './channels/log.sender';
import { ChannelSender, DeliveryError, Notification, NotificationEvent } from './channels/notification';
import { WebhookSender } from './channels/webhook.sender';
import { ChannelTestResultDto } from './dto/alert-channel.dto';
import { AlertDto } from './dto/alert.dto';

/** Attempts per notification and channel: the first, then retries after 1 s, 2 s and 4 s. */
const MAX_ATTEMPTS = 4;
const FIRST_BACKOFF_MS = 1000;

export interface AlertChange {
  event: Exclude<NotificationEvent, 'test'>;
  alert: AlertDto;
  /** A silence covers the alert's rule and subject: record the change, notify nobody. */
  silenced: boolean;
}

/**
 * Fans alert changes out to every enabled channel whose minimum severity they reach. Deliveries
 * run in the background with retries and exponential backoff, so a slow receiver never holds up
 * an evaluation. They live in memory: a change whose retries are cut short by a shutdown is lost.
 */
@Injectable()
export class AlertNotifier implements OnApplicationShutdown {
  private readonly logger = new Logger('Alerting');
  private readonly shutdown = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly senders: Record<ChannelType, ChannelSender>;

  constructor(
    private readonly channels: AlertChannelRepository,
    webhook: WebhookSender,
    email: EmailSender,
    log: LogSender,
  ) {
    this.senders = { webhook, email, log };
  }

  /** Returns at once; deliveries proceed in the background. */
  dispatch(changes: AlertChange[]): void {
    const audible = changes.filter((change) => !change.silenced);
    if (audible.length === 0 || this.shutdown.signal.aborted) return;
    const run = this.channels
      .enabledWithSecrets()
      .then((channels) => {
        for (const change of audible) {
          const timestamp = new Date().toISOString();
          for (const channel of channels) {
            if (severityAtLeast(change.alert.severity, channel.minSeverity))
              this.track(
                this.deliver(channel, { id: randomUUID(), event: change.event, timestamp, alert: change.alert }),
              );
          }
        }
      })
      .catch((error) => this.logger.error(`alert notifications not sent: ${(error as Error).message}`));
    this.track(run);
  }

  /** One test notification, one attempt, awaited: the answer says what happened. */
  async test(channelId: string): Promise<ChannelTestResultDto> {
    const channel = await this.channels.findWithSecret(channelId);
    const started = performance.now();
    const notification: Notification = {
      id: randomUUID(),
      event: 'test',
      timestamp: new Date().toISOString(),
      alert: null,
    };
    try {
      await this.senders[channel.type].send(channel, notification, this.shutdown.signal);
      return { delivered: true, latencyMs: Math.round(performance.now() - started), error: null };
    } catch (error) {
      return { delivered: false, latencyMs: Math.round(performance.now() - started), error: (error as Error).message };
    }
  }

  /** Stops retrying, and waits (briefly) for deliveries already on the wire. */
  async onApplicationShutdown(): Promise<void> {
    this.shutdown.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  private track(promise: Promise<void>): void {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise));
  }

  private async deliver(channel: AlertChannel, notification: Notification): Promise<void> {
    const signal = this.shutdown.signal;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.senders[channel.type].send(channel, notification, signal);
        if (attempt > 1)
          this.logger.log(`notification ${notification.id} reached channel "${channel.name}" at attempt ${attempt}`);
        return;
      } catch (error) {
        const retryable = !(error instanceof DeliveryError) || error.retryable;
        const message = `notification ${notification.id} (${notification.event}) to channel "${channel.name}" failed at attempt ${attempt}: ${(error as Error).message}`;
        if (!retryable || attempt >= MAX_ATTEMPTS || signal.aborted) {
          this.logger.warn(`${message}; giving up`);
          return;
        }
        this.logger.debug(message);
        try {
          await sleep(FIRST_BACKOFF_MS * 2 ** (attempt - 1), undefined, { signal });
        } catch {
          this.logger.warn(`${message}; shutting down, not retried`);
          return;
        }
      }
    }
  }
}
