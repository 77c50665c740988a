import { QueryFailedError } from 'typeorm';

const UNIQUE_VIOLATION = '23505';

/** Whether `error` is PostgreSQL refusing a duplicate key (of `constraint`, when given: its name or detail matches). */
export function isUniqueViolation(error: unknown, constraint?: RegExp): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const driverError = error.driverError as { code?: string; constraint?: string; detail?: string };
  if (driverError.code !== UNIQUE_VIOLATION) return false;
  return !constraint || constraint.test(String(driverError.constraint ?? driverError.detail ?? ''));
}
