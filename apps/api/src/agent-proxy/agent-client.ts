import { Logger } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { AgentPath, HostMetrics } from '@limen/agent-contract';
import { AgentClientConfig } from '../config/app-config';

const METRICS_TIMEOUT_MS = 5000;
const HEALTH_TIMEOUT_MS = 2000;
/** Until the agent's response headers arrive; the body then streams without a deadline of its own. */
const PROXY_HEADERS_TIMEOUT_MS = 10_000;

/** The agent did not answer usefully: unreachable, too slow, refused our token, or sent garbage. */
export class AgentUnavailableError extends Error {}

/** Where one host's agent listens and the token it wants. */
export interface AgentEndpoint {
  /** Base URL, without a trailing slash. */
  url: string;
  /** Read on each request; undefined sends none. */
  token(): string | undefined;
  /** The agent refused the token (401): whatever was cached must be read again. */
  tokenRefused?(): void;
  /** What an operator fixes when the token is refused, e.g. AGENT_TOKEN. */
  tokenSource: string;
}

/**
 * The api's one way to a host metrics agent (apps/agent): typed host samples for alerting and
 * placement, a reachability probe for readiness, and raw responses for the admin proxy. One
 * instance per agent: injecting `AgentClient` gives the configured one (AGENT_URL), HostAgents
 * gives each registered host's.
 */
export class AgentClient {
  constructor(private readonly endpoint: AgentEndpoint) {}

  get url(): string {
    return this.endpoint.url;
  }

  /** One host sample from GET /metrics. */
  async metrics(timeoutMs = METRICS_TIMEOUT_MS): Promise<HostMetrics> {
    const res = await this.request('/metrics', AbortSignal.timeout(timeoutMs));
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new AgentUnavailableError(`the agent answered GET /metrics with ${res.status}`);
    }
    let body: HostMetrics;
    try {
      body = (await res.json()) as HostMetrics;
    } catch (error) {
      throw new AgentUnavailableError(`the agent's GET /metrics body is not JSON: ${(error as Error).message}`);
    }
    if (
      typeof body?.memory?.percent !== 'number' ||
      typeof body.cpu?.percent !== 'number' ||
      !Array.isArray(body.disks)
    ) {
      throw new AgentUnavailableError('the agent answered GET /metrics without the expected fields');
    }
    return body;
  }

  /** Resolves when the agent's unauthenticated GET /health answers 200 in time. */
  async health(): Promise<void> {
    const res = await this.request('/health', AbortSignal.timeout(HEALTH_TIMEOUT_MS));
    await res.body?.cancel();
    if (res.status !== 200) throw new AgentUnavailableError(`the agent answered GET /health with ${res.status}`);
  }

  /**
   * GET `path` on the agent, for the reverse proxy: the caller streams the body. Any status the
   * agent sends is returned, except 401, which would only mean the api's token is wrong.
   */
  async open(path: AgentPath, requestId: string | undefined, signal: AbortSignal): Promise<Response> {
    const headersDeadline = AbortSignal.timeout(PROXY_HEADERS_TIMEOUT_MS);
    const res = await this.request(path, AbortSignal.any([signal, headersDeadline]), requestId);
    if (res.status === 401) {
      await res.body?.cancel();
      throw new AgentUnavailableError(`the agent refused the api's token (check ${this.endpoint.tokenSource})`);
    }
    return res;
  }

  private async request(path: AgentPath, signal: AbortSignal, requestId?: string): Promise<Response> {
    const headers: Record<string, string> = {
      accept: path === '/metrics/prometheus' ? 'text/plain' : 'application/json',
    };
    const token = path === '/health' ? undefined : this.endpoint.token();
    if (token) headers.authorization = `Bearer ${token}`;
    if (requestId) headers['x-request-id'] = requestId;
    let res: Response;
    try {
      // Never follow a redirect: the token must only ever go to the agent's own URL.
      res = await fetch(`${this.endpoint.url}${path}`, { headers, signal, redirect: 'manual' });
    } catch (error) {
      const e = error as Error & { cause?: { code?: string; message?: string } };
      const reason = e.name === 'TimeoutError' ? 'timed out' : (e.cause?.code ?? e.cause?.message ?? e.message);
      throw new AgentUnavailableError(`the agent at ${this.endpoint.url} is unreachable: ${reason}`);
    }
    if (res.status === 401) this.endpoint.tokenRefused?.();
    return res;
  }
}

/**
 * The agent AGENT_URL names, with AGENT_TOKEN, else (outside production) the token file the agent
 * writes into a shared DATA_DIR: read when first needed, and again after a 401, since the agent
 * may start later or replace it.
 */
export function configuredAgentEndpoint(config: AgentClientConfig): AgentEndpoint {
  const logger = new Logger('AgentClient');
  let fileToken: string | undefined;
  return {
    url: config.url,
    tokenSource: 'AGENT_TOKEN',
    token() {
      if (config.token) return config.token;
      if (!config.tokenFile || fileToken) return fileToken;
      try {
        fileToken = readFileSync(config.tokenFile, 'utf8').trim() || undefined;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
          logger.warn(`agent token file ${config.tokenFile} is not readable: ${(error as Error).message}`);
      }
      return fileToken;
    },
    tokenRefused() {
      fileToken = undefined;
    },
  };
}
