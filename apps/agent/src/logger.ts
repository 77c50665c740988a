import pino, { Logger } from 'pino';
import { AgentConfig } from './config/agent-config';

/**
 * Structured JSON lines on stdout, the same pino format the api writes (level, time, msg,
 * requestId), so one log pipeline reads both. Nothing logged carries a header or the token.
 */
export function createLogger(config: Pick<AgentConfig, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, base: { service: 'limen-agent' } });
}
