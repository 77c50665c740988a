import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { ConfigError, Env, LOG_LEVELS, LogLevel, NODE_ENVS, NodeEnv, readInt, readOneOf, readString } from '@limen/env';

export { ConfigError };
export type { LogLevel, NodeEnv };

/**
 * The whole typed configuration of the agent. `loadAgentConfig` is the agent's only
 * reader of process.env; everything else receives this object.
 */
export interface AgentConfig {
  nodeEnv: NodeEnv;
  host: string;
  port: number;
  token: string;
  /** Set when the token was read from or written to a file (development only). */
  tokenFile?: string;
  /** True when this start generated the token file. */
  tokenGenerated: boolean;
  logLevel: LogLevel;
  /** How long one host sample answers scrapes before a new one is taken. */
  sampleTtlMs: number;
  /** A sample taking longer than this fails the scrape (503) instead of hanging it. */
  sampleTimeoutMs: number;
  shutdownTimeoutMs: number;
}

export const TOKEN_FILE_NAME = 'agent-token';
const MIN_TOKEN_LENGTH = 16;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/;

function host(env: Env): string {
  const raw = readString(env, 'AGENT_HOST') ?? '127.0.0.1';
  if (isIP(raw) === 0 && !HOSTNAME.test(raw)) {
    throw new ConfigError(`AGENT_HOST must be an IP address or a host name (got "${raw}")`);
  }
  return raw;
}

function checkToken(token: string, source: string): string {
  if (token.length < MIN_TOKEN_LENGTH)
    throw new ConfigError(`${source} must be at least ${MIN_TOKEN_LENGTH} characters`);
  // A header value cannot carry control characters or spaces; such a token could never match.
  if (!/^[\x21-\x7e]+$/.test(token)) throw new ConfigError(`${source} must be printable ASCII without spaces`);
  return token;
}

/**
 * AGENT_TOKEN is required in production. Elsewhere a missing token is generated once and
 * kept in AGENT_DATA_DIR (else DATA_DIR, else ./data) as `agent-token`, mode 0600, so the
 * api started with the same DATA_DIR on the same host can read it, and restarts keep it.
 */
function token(env: Env, nodeEnv: NodeEnv): Pick<AgentConfig, 'token' | 'tokenFile' | 'tokenGenerated'> {
  const given = readString(env, 'AGENT_TOKEN');
  if (given !== undefined) return { token: checkToken(given, 'AGENT_TOKEN'), tokenGenerated: false };
  if (nodeEnv === 'production') throw new ConfigError('AGENT_TOKEN is required when NODE_ENV=production');

  const dir = resolve(readString(env, 'AGENT_DATA_DIR') ?? readString(env, 'DATA_DIR') ?? './data');
  const file = join(dir, TOKEN_FILE_NAME);
  try {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!existsSync(file)) {
      const generated = randomBytes(32).toString('base64url');
      // 'wx' fails instead of overwriting if another agent created the file in between.
      writeFileSync(file, generated + '\n', { mode: 0o600, flag: 'wx' });
      return { token: generated, tokenFile: file, tokenGenerated: true };
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new ConfigError(`agent token file ${file} cannot be created: ${(error as Error).message}`);
    }
  }
  // Like ssh with a private key: a token others can read is no secret, so refuse it.
  if ((statSync(file).mode & 0o077) !== 0) {
    throw new ConfigError(`agent token file ${file} must not be readable by group or others (chmod 600 it)`);
  }
  return {
    token: checkToken(readFileSync(file, 'utf8').trim(), `agent token file ${file}`),
    tokenFile: file,
    tokenGenerated: false,
  };
}

export function loadAgentConfig(env: Env = process.env): AgentConfig {
  const nodeEnv = readOneOf<NodeEnv>(env, 'NODE_ENV', NODE_ENVS, 'development');
  const config: AgentConfig = {
    nodeEnv,
    host: host(env),
    port: readInt(env, 'AGENT_PORT', 9000, 0, 65535),
    logLevel: readOneOf<LogLevel>(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    sampleTtlMs: readInt(env, 'AGENT_SAMPLE_TTL_MS', 2000, 0, 60_000),
    sampleTimeoutMs: readInt(env, 'AGENT_SAMPLE_TIMEOUT_MS', 10_000, 100, 120_000),
    shutdownTimeoutMs: readInt(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    ...token(env, nodeEnv),
  };
  return config;
}
