import { HostMetrics } from '@limen/agent-contract';
import { renderPrometheus } from './prometheus-exposition';

/**
 * One sample with its two renderings, each produced at most once: every scrape within the
 * cache TTL gets the same strings instead of serializing the sample again. Under sustained
 * scraping that per-scrape garbage, not the sample itself, is what drives the agent's RSS.
 */
export class MetricsSnapshot {
  private jsonText?: string;
  private prometheusText?: Promise<string>;

  constructor(readonly metrics: HostMetrics) {}

  json(): string {
    return (this.jsonText ??= JSON.stringify(this.metrics));
  }

  prometheus(): Promise<string> {
    return (this.prometheusText ??= renderPrometheus(this.metrics));
  }
}
