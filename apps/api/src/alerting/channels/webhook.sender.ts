import { Injectable } from '@nestjs/common';
import { createHmac } from 'node:crypto';
import { AppConfig } from '../../config/app-config';
import type { AlertChannel } from '../alert-channel.entity';
import { ChannelSender, DeliveryError, Notification } from './notification';

export const SIGNATURE_HEADER = 'X-Limen-Signature';

/** `sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the channel secret>`. */
export function signatureOf(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * POSTs the notification as JSON, signed. Redirects are not followed (the URL is the one an
 * admin approved); 5xx, 408, 429 and network failures are worth a retry, other answers are not.
 */
@Injectable()
export class WebhookSender implements ChannelSender {
  constructor(private readonly config: AppConfig) {}

  async send(channel: AlertChannel, notification: Notification, signal: AbortSignal): Promise<void> {
    if (!channel.url || !channel.secret) throw new DeliveryError('the webhook channel has no URL or secret', false);
    const body = JSON.stringify(notification);
    let res: Response;
    try {
      res = await fetch(channel.url, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.config.alerting.webhookTimeoutMs)]),
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'LIMEN-Alerting/1',
          'X-Limen-Event': notification.event,
          'X-Limen-Delivery': notification.id,
          [SIGNATURE_HEADER]: signatureOf(body, channel.secret),
        },
      });
      // The answer's body is of no interest; don't wait for a large one.
      await res.body?.cancel();
    } catch (error) {
      const e = error as Error & { cause?: { code?: string; message?: string } };
      const reason =
        e.name === 'TimeoutError'
          ? `no answer within ${this.config.alerting.webhookTimeoutMs} ms`
          : (e.cause?.code ?? e.cause?.message ?? e.message);
      throw new DeliveryError(`webhook unreachable: ${reason}`, true);
    }
    if (res.status >= 200 && res.status < 300) return;
    const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
    throw new DeliveryError(
      `webhook answered ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : ''}`,
      retryable,
    );
  }
}
