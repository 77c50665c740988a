import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { createTransport, Transporter } from 'nodemailer';
import { AppConfig } from '../../config/app-config';
import type { AlertChannel } from '../alert-channel.entity';
import { ChannelSender, DeliveryError, headline, Notification } from './notification';

/** nodemailer has no cancellation; past this the attempt counts as failed (and may be retried). */
const SEND_TIMEOUT_MS = 30_000;

function text(notification: Notification): string {
  const alert = notification.alert;
  if (!alert) return `This is a test notification from LIMEN, sent at ${notification.timestamp}.\n`;
  return [
    headline(notification),
    '',
    `Rule:      ${alert.ruleName} (${alert.metric} ${alert.comparator} ${alert.threshold})`,
    `Subject:   ${alert.subject ?? 'host'}`,
    `Value:     ${alert.value}`,
    `State:     ${alert.state}`,
    `Since:     ${alert.pendingSince}`,
    alert.firedAt ? `Fired:     ${alert.firedAt}` : undefined,
    alert.resolvedAt ? `Resolved:  ${alert.resolvedAt}` : undefined,
    `Alert id:  ${alert.id}`,
    '',
  ]
    .filter((line) => line !== undefined)
    .join('\n');
}

/** Sends through SMTP_URL with nodemailer. SMTP 5xx answers are permanent; the rest may be retried. */
@Injectable()
export class EmailSender implements ChannelSender, OnApplicationShutdown {
  private transporter?: Transporter;

  constructor(private readonly config: AppConfig) {}

  get configured(): boolean {
    return this.config.alerting.smtpUrl !== undefined;
  }

  async send(channel: AlertChannel, notification: Notification, signal: AbortSignal): Promise<void> {
    const smtpUrl = this.config.alerting.smtpUrl;
    if (!smtpUrl) throw new DeliveryError('SMTP_URL is not configured', false);
    this.transporter ??= createTransport(smtpUrl);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        this.transporter.sendMail({
          from: this.config.alerting.emailFrom,
          to: channel.recipients,
          subject: `[LIMEN] ${headline(notification)}`,
          text: text(notification),
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${SEND_TIMEOUT_MS} ms`)), SEND_TIMEOUT_MS);
          onAbort = () => reject(new Error('shutting down'));
          signal.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } catch (error) {
      const e = error as Error & { responseCode?: number };
      throw new DeliveryError(`email not sent: ${e.message}`, !(e.responseCode !== undefined && e.responseCode >= 500));
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  onApplicationShutdown(): void {
    this.transporter?.close();
  }
}
