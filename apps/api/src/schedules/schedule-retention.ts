import { ScheduledCopy } from './schedule-runners';

const DAY_MS = 86_400_000;

export interface RetentionRule {
  /** Keep at most this many ready copies (null: no count limit). */
  keepLast: number | null;
  /** Drop ready copies older than this many days (null: no age limit). */
  keepDays: number | null;
}

/**
 * The copies a schedule's retention drops, oldest first (the order they are deleted in). Only ready
 * copies count and are dropped: one still being made may fail, so the newest ready copy always
 * stays whatever the rule says (the last good copy is never deleted).
 */
export function copiesToDrop(copies: ScheduledCopy[], rule: RetentionRule, now: Date): ScheduledCopy[] {
  if (rule.keepLast === null && rule.keepDays === null) return [];
  const ready = copies
    .filter((copy) => copy.ready)
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const oldestKept = rule.keepDays === null ? null : now.getTime() - rule.keepDays * DAY_MS;
  const dropped = ready.filter(
    (copy, newestFirst) =>
      newestFirst > 0 &&
      ((rule.keepLast !== null && newestFirst >= rule.keepLast) ||
        (oldestKept !== null && copy.createdAt.getTime() < oldestKept)),
  );
  return dropped.reverse();
}
