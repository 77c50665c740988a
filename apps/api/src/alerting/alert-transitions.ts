import { AlertMetric, AlertState, Comparator, conditionHolds } from './alert-metrics';

/** This round's values: metric → subject → value. A metric that is absent is unknown this round. */
export type Samples = Map<AlertMetric, Map<string, number>>;

export interface RuleCondition {
  id: string;
  metric: AlertMetric;
  comparator: Comparator;
  threshold: number;
  forSeconds: number;
}

export interface OpenAlert {
  id: string;
  ruleId: string;
  subject: string;
  state: Exclude<AlertState, 'resolved'>;
  pendingSince: Date;
  value: number;
}

export type Transition =
  /** A new instance: firing at once when the rule has no `for`, else pending. */
  | { kind: 'open'; ruleId: string; subject: string; value: number; fire: boolean }
  /** Pending long enough: it fires now. */
  | { kind: 'fire'; alertId: string; value: number }
  /** Still breaching, with a new value. */
  | { kind: 'observe'; alertId: string; value: number }
  | { kind: 'resolve'; alertId: string }
  /** A pending instance whose condition cleared before `for` passed: it never happened. */
  | { kind: 'discard'; alertId: string };

const keyOf = (ruleId: string, subject: string) => `${ruleId}\u0000${subject}`;

/**
 * One evaluation round, as a pure function of the enabled rules, this round's samples and the
 * open instances. Unknown metrics (an unreachable agent) change nothing: no data is not "resolved".
 * An open instance nobody looked at resolves: its rule was disabled or deleted, or its subject is
 * gone (a deleted VM, an unmounted disk).
 */
export function planTransitions(rules: RuleCondition[], samples: Samples, open: OpenAlert[], now: Date): Transition[] {
  const openByKey = new Map(open.map((alert) => [keyOf(alert.ruleId, alert.subject), alert]));
  const seen = new Set<string>();
  const transitions: Transition[] = [];
  for (const rule of rules) {
    const values = samples.get(rule.metric);
    if (!values) {
      for (const alert of open) if (alert.ruleId === rule.id) seen.add(keyOf(alert.ruleId, alert.subject));
      continue;
    }
    for (const [subject, value] of values) {
      const key = keyOf(rule.id, subject);
      seen.add(key);
      const current = openByKey.get(key);
      const breached = conditionHolds(value, rule.comparator, rule.threshold);
      if (!current) {
        if (breached) transitions.push({ kind: 'open', ruleId: rule.id, subject, value, fire: rule.forSeconds === 0 });
      } else if (!breached) {
        transitions.push(
          current.state === 'firing'
            ? { kind: 'resolve', alertId: current.id }
            : { kind: 'discard', alertId: current.id },
        );
      } else if (
        current.state === 'pending' &&
        now.getTime() - current.pendingSince.getTime() >= rule.forSeconds * 1000
      ) {
        transitions.push({ kind: 'fire', alertId: current.id, value });
      } else if (value !== current.value) {
        transitions.push({ kind: 'observe', alertId: current.id, value });
      }
    }
  }
  for (const alert of open) {
    if (seen.has(keyOf(alert.ruleId, alert.subject))) continue;
    transitions.push(
      alert.state === 'firing' ? { kind: 'resolve', alertId: alert.id } : { kind: 'discard', alertId: alert.id },
    );
  }
  return transitions;
}
