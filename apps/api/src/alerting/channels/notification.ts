import type { AlertChannel } from '../alert-channel.entity';
import type { AlertDto } from '../dto/alert.dto';

export type NotificationEvent = 'firing' | 'resolved' | 'test';

/**
 * What one channel receives about one alert state change. The same `id` (and, for webhooks, the
 * same bytes) goes out on every retry, so a receiver can drop duplicates.
 */
export interface Notification {
  id: string;
  event: NotificationEvent;
  /** When the change was decided (ISO 8601). */
  timestamp: string;
  /** Null for a channel test. */
  alert: AlertDto | null;
}

/** A delivery failed; `retryable` says whether trying again could help. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** Delivers notifications to one kind of channel; throws DeliveryError on failure. */
export interface ChannelSender {
  send(channel: AlertChannel, notification: Notification, signal: AbortSignal): Promise<void>;
}

/** One line a person can read: "FIRING critical: Hypervisor down" or "RESOLVED warning: Disk usage high (/var)". */
export function headline(notification: Notification): string {
  const alert = notification.alert;
  if (!alert) return 'TEST: a test notification from LIMEN';
  const subject = alert.subject === null ? '' : ` (${alert.subject})`;
  return `${notification.event.toUpperCase()} ${alert.severity}: ${alert.ruleName}${subject}`;
}
