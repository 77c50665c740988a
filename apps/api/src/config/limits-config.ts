import { ConfigError, Env, readInt, readOneOf } from '@limen/env';

/**
 * Where rate-limit counters and per-user slots (console sessions, event streams) are kept:
 * - `replica`: in this process's memory; each replica counts on its own (one-process installs);
 * - `postgres`: in the shared PostgreSQL, so every replica counts against one total.
 */
export type LimitsStore = 'replica' | 'postgres';

export interface SharedLimitsConfig {
  /** LIMITS_STORE; default `postgres` with DATABASE_URL (replicas may share it), else `replica`. */
  store: LimitsStore;
}

export function sharedLimitsSettings(env: Env, databaseUrl: string | undefined): SharedLimitsConfig {
  const store = readOneOf<LimitsStore>(
    env,
    'LIMITS_STORE',
    ['replica', 'postgres'],
    databaseUrl ? 'postgres' : 'replica',
  );
  // The embedded PGlite serves one process: there is nothing to share it with.
  if (store === 'postgres' && databaseUrl === undefined)
    throw new ConfigError('LIMITS_STORE=postgres needs DATABASE_URL (the embedded database serves one process)');
  return { store };
}

/** Request rates and the long-lived things each user (and each replica) may hold at once. */
export function limitSettings(env: Env) {
  return {
    rateLimitPerMinute: readInt(env, 'RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
    authRateLimitPerMinute: readInt(env, 'AUTH_RATE_LIMIT_PER_MINUTE', 20, 1, 1_000_000),
    imageUploads: {
      minBytesPerSecond: readInt(env, 'UPLOAD_MIN_BYTES_PER_SECOND', 32768, 1, 1_073_741_824),
      progressWindowSeconds: readInt(env, 'UPLOAD_PROGRESS_WINDOW_SECONDS', 30, 1, 3600),
      maxConcurrent: readInt(env, 'UPLOAD_MAX_CONCURRENT', 4, 1, 1000),
      maxConcurrentPerUser: readInt(env, 'UPLOAD_MAX_CONCURRENT_PER_USER', 2, 1, 1000),
    },
    console: {
      maxSessionsPerUser: readInt(env, 'CONSOLE_MAX_SESSIONS_PER_USER', 4, 1, 1000),
      idleTimeoutSeconds: readInt(env, 'CONSOLE_IDLE_TIMEOUT_SECONDS', 600, 1, 86400),
    },
    eventStreams: {
      maxStreamsPerUser: readInt(env, 'SSE_MAX_STREAMS_PER_USER', 10, 1, 10_000),
      maxStreams: readInt(env, 'SSE_MAX_STREAMS', 1000, 1, 1_000_000),
      heartbeatSeconds: readInt(env, 'SSE_HEARTBEAT_SECONDS', 30, 1, 3600),
    },
  };
}

export interface EventStreamConfig {
  /** Open SSE streams one user may hold on one api replica. */
  maxStreamsPerUser: number;
  /** Open SSE streams of all users together on one api replica. */
  maxStreams: number;
  /** How often an idle stream gets a heartbeat event. */
  heartbeatSeconds: number;
}

/**
 * Image uploads may take hours, so instead of REQUEST_TIMEOUT_SECONDS they must keep moving:
 * at least minBytesPerSecond on average over every progressWindowSeconds. And only so many run
 * at once, so slow ones cannot pile up.
 */
export interface ImageUploadConfig {
  minBytesPerSecond: number;
  progressWindowSeconds: number;
  /** Uploads running at once on one api replica, in all and per user. */
  maxConcurrent: number;
  maxConcurrentPerUser: number;
}

export interface ConsoleConfig {
  /** Open console WebSockets one user may hold on one api replica. */
  maxSessionsPerUser: number;
  /** A console session with no traffic either way for this long is closed. */
  idleTimeoutSeconds: number;
}
