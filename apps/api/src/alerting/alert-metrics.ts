/**
 * What a rule can watch. Host-wide metrics have one subject (''); the others one per
 * mount, VM or user. Up/down metrics are 1 or 0, so "down" is `< 1`.
 */
export const ALERT_METRICS = [
  'host.cpu.percent',
  'host.memory.percent',
  'host.disk.percent',
  'vm.crashed',
  'quota.usage.percent',
  'hypervisor.up',
  'agent.up',
  'host.up',
] as const;
export type AlertMetric = (typeof ALERT_METRICS)[number];

export const COMPARATORS = ['>', '>=', '<', '<=', '=='] as const;
export type Comparator = (typeof COMPARATORS)[number];

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const ALERT_STATES = ['pending', 'firing', 'resolved'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

/** The metrics read from the agent's host sample (so unknown while the agent is unreachable). */
export const AGENT_METRICS: ReadonlySet<AlertMetric> = new Set([
  'host.cpu.percent',
  'host.memory.percent',
  'host.disk.percent',
]);

export function conditionHolds(value: number, comparator: Comparator, threshold: number): boolean {
  switch (comparator) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '==':
      return value === threshold;
  }
}

export function severityAtLeast(severity: Severity, minimum: Severity): boolean {
  return SEVERITIES.indexOf(severity) >= SEVERITIES.indexOf(minimum);
}
