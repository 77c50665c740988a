/**
 * Typed, validated reading of environment variables, shared by the api's and
 * the agent's config (each app's config file stays the only reader of process.env).
 * Every failure is a ConfigError whose message is one line naming the variable.
 */
export class ConfigError extends Error {}

export type Env = Record<string, string | undefined>;
export type NodeEnv = 'development' | 'production' | 'test';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
export const NODE_ENVS: readonly NodeEnv[] = ['development', 'production', 'test'];

/** The trimmed value, or undefined when unset or blank. */
export function readString(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function readInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = readString(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  }
  return Number(raw);
}

export function readOneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = readString(env, name);
  if (raw === undefined) return fallback;
  if (!allowed.includes(raw as T)) {
    throw new ConfigError(`${name} must be one of ${allowed.join('|')} (got "${raw}")`);
  }
  return raw as T;
}
