import { ScheduledCopy } from './schedule-runners';
import { copiesToDrop } from './schedule-retention';

const NOW = new Date('2026-12-07T12:00:00.000Z');
const DAY = 86_400_000;

/** Copies made `ages` days ago (c0 the first listed), ready unless listed in `notReady`. */
function copies(ages: number[], notReady: number[] = []): ScheduledCopy[] {
  return ages.map((age, i) => ({
    id: `c${i}`,
    createdAt: new Date(NOW.getTime() - age * DAY),
    ready: !notReady.includes(i),
  }));
}

const ids = (dropped: ScheduledCopy[]) => dropped.map((c) => c.id);

describe('copiesToDrop', () => {
  it('keeps everything without a rule', () => {
    expect(copiesToDrop(copies([1, 2, 3]), { keepLast: null, keepDays: null }, NOW)).toEqual([]);
  });

  it('keeps the newest keepLast and drops the rest oldest first', () => {
    // Listed out of order: age decides, not the order they come in.
    expect(ids(copiesToDrop(copies([3, 1, 5, 2, 4]), { keepLast: 3, keepDays: null }, NOW))).toEqual(['c2', 'c4']);
  });

  it('drops those older than keepDays, oldest first', () => {
    expect(ids(copiesToDrop(copies([1, 8, 3, 10]), { keepLast: null, keepDays: 7 }, NOW))).toEqual(['c3', 'c1']);
  });

  it('applies both limits: a copy goes when either says so', () => {
    expect(ids(copiesToDrop(copies([1, 2, 3, 9]), { keepLast: 3, keepDays: 30 }, NOW))).toEqual(['c3']);
    expect(ids(copiesToDrop(copies([1, 2, 9]), { keepLast: 5, keepDays: 7 }, NOW))).toEqual(['c2']);
  });

  it('never drops the newest ready copy, however old', () => {
    expect(ids(copiesToDrop(copies([40, 50, 60]), { keepLast: null, keepDays: 7 }, NOW))).toEqual(['c2', 'c1']);
    expect(ids(copiesToDrop(copies([40]), { keepLast: 1, keepDays: 1 }, NOW))).toEqual([]);
  });

  it('counts only ready copies: one being made (or deleted) is neither kept nor dropped', () => {
    // c0 (newest) is still being made: c1 is the last good copy and stays although 40 days old.
    expect(ids(copiesToDrop(copies([0, 40, 50], [0]), { keepLast: null, keepDays: 7 }, NOW))).toEqual(['c2']);
    expect(ids(copiesToDrop(copies([0, 1, 2, 3], [0]), { keepLast: 2, keepDays: null }, NOW))).toEqual(['c3']);
  });

  it('orders copies made in the same millisecond by id, so the choice is stable', () => {
    const same = [
      { id: 'a', createdAt: NOW, ready: true },
      { id: 'b', createdAt: NOW, ready: true },
    ];
    expect(ids(copiesToDrop(same, { keepLast: 1, keepDays: null }, NOW))).toEqual(['a']);
  });
});
