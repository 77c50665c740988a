import { CronExpression, CronExpressionParser } from 'cron-parser';
import { FieldError } from '../common/problem';

/** How far ahead the check for two matching days in a row looks (a year and a little). */
const CONSECUTIVE_DAYS_LOOKAHEAD_MS = 400 * 86_400_000;

const TIME_ZONE_SHAPE = /^[A-Za-z0-9_+\-/]{1,64}$/;

/**
 * An IANA time zone name the platform knows. The shape check comes first: Intl accepts some
 * names luxon reads differently ("local" is the process's zone to luxon).
 */
export function isTimeZone(name: string): boolean {
  if (!TIME_ZONE_SHAPE.test(name) || name.toLowerCase() === 'local') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/**
 * Five fields (minute hour day-of-month month day-of-week) as cron-parser reads them, in `timeZone`.
 * A sixth (seconds) field, the @-names and `H` (random per parse: replicas would disagree on the
 * slot) are refused: a schedule's slots must be the same wherever they are computed.
 */
function parse(cron: string, timeZone: string, currentDate: Date, endDate?: Date): CronExpression {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5) throw new Error('cron must have 5 fields: minute hour day-of-month month day-of-week');
  if (/(^|[^a-z])h(?![a-z])/i.test(cron)) throw new Error('cron may not use H (a random value)');
  return CronExpressionParser.parse(cron, { tz: timeZone, currentDate, endDate });
}

/** The first slot of `cron` in `timeZone` strictly after `after`. */
export function nextSlotAfter(cron: string, timeZone: string, after: Date): Date {
  return parse(cron, timeZone, after).next().toDate();
}

/** Minutes after midnight of every firing on a day that matches, ascending: every (hour, minute) pair of the fields. */
function firingMinutesOfADay(expression: CronExpression): number[] {
  const minutes = expression.fields.minute.values.map(Number);
  return expression.fields.hour.values
    .flatMap((hour) => minutes.map((minute) => Number(hour) * 60 + minute))
    .sort((a, b) => a - b);
}

/** Whether two calendar days in a row match the day fields in the coming year (a day's only firing, the first pair, is enough). */
function firesOnConsecutiveDays(cron: string, timeZone: string, firstMinuteOfDay: number, now: Date): boolean {
  const [, , dayOfMonth, month, dayOfWeek] = cron.trim().split(/\s+/);
  const daily = `${firstMinuteOfDay % 60} ${Math.floor(firstMinuteOfDay / 60)} ${dayOfMonth} ${month} ${dayOfWeek}`;
  const expression = parse(daily, timeZone, now, new Date(now.getTime() + CONSECUTIVE_DAYS_LOOKAHEAD_MS));
  let previous: number | null = null;
  while (expression.hasNext()) {
    const at = expression.next().getTime();
    // The same local time on the next day is 23 to 25 hours on; on any later day, 47 or more.
    if (previous !== null && at - previous < 36 * 3_600_000) return true;
    previous = at;
  }
  return false;
}

/**
 * The smallest gap between consecutive firings in seconds, if it is under `floorSeconds` (else
 * Infinity): the closest (hour, minute) pairs of one day, exact on any day however rarely one
 * matches (29 February), or from a day's last firing to the next day's first when two days in a row
 * match (looked for only when that gap is under the floor). Clocks changing for daylight saving time
 * can bring two firings up to an hour closer twice a year; that is not counted (it would take walking
 * every firing of the year, too slow for a request).
 */
function gapUnderSeconds(
  cron: string,
  timeZone: string,
  expression: CronExpression,
  floorSeconds: number,
  now: Date,
): number {
  const times = firingMinutesOfADay(expression);
  let smallest = Infinity;
  for (let i = 1; i < times.length; i++) smallest = Math.min(smallest, (times[i] - times[i - 1]) * 60);
  const acrossMidnight = (24 * 60 - times[times.length - 1] + times[0]) * 60;
  if (acrossMidnight < Math.min(smallest, floorSeconds) && firesOnConsecutiveDays(cron, timeZone, times[0], now)) {
    smallest = acrossMidnight;
  }
  return smallest < floorSeconds ? smallest : Infinity;
}

/**
 * What is wrong with a schedule's cron expression and time zone, per field (none: usable): an
 * unknown zone, an expression cron-parser refuses or that never fires, or one whose firings come
 * closer together than `minIntervalSeconds`.
 */
export function scheduleTimingErrors(
  cron: string,
  timeZone: string,
  minIntervalSeconds: number,
  now: Date = new Date(),
): FieldError[] {
  if (!isTimeZone(timeZone)) return [{ field: 'timeZone', messages: ['timeZone must be an IANA time zone name'] }];
  let expression: CronExpression;
  try {
    expression = parse(cron, timeZone, now);
    expression.next();
  } catch (error) {
    return [{ field: 'cron', messages: [`cron is not a valid expression: ${(error as Error).message}`] }];
  }
  const gap = gapUnderSeconds(cron, timeZone, expression, minIntervalSeconds, now);
  if (gap !== Infinity) {
    return [
      {
        field: 'cron',
        messages: [`cron fires ${gap} s apart at times; schedules may fire at most every ${minIntervalSeconds} s`],
      },
    ];
  }
  return [];
}
