import { Injectable, Logger } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import type { HostMetrics } from '../../../agent/src/metrics/host-metrics';
import { AppConfig } from '../config/app-config';

export type { HostMetrics };

/** The agent's routes, and nothing else, are reachable through this client. */
export const AGENT_PATHS = ['/health', '/metrics', '/metrics/prometheus'] as const;
export type AgentPath = (typeof AGENT_PATHS)[number];

const METRICS_TIMEOUT_MS = 5000;
const HEALTH_TIMEOUT_MS = 2000;
/** Until the agent's response headers arrive; the body then streams without a deadline of its own. */
const PROXY_HEADERS_TIMEOUT_MS = 10_000;

/** The agent did not answer usefully: unreachable, too slow, refused our token, or sent garbage. */
export class AgentUnavailableError extends Error {}

/**
 * The api's one way to the host metrics agent (apps/agent): typed host samples for
 * alerting, a reachability probe for readiness, and raw responses for the admin proxy.
 */
@Injectable()
export class AgentClient {
  private readonly logger = new Logger('AgentClient');
  private fileToken?: string;

  constructor(private readonly config: AppConfig) {}

  get url(): string {
    return this.config.agent.url;
  }

  /** One host sample from GET /metrics. */
  async metrics(): Promise<HostMetrics> {
    const res = await this.request('/metrics', AbortSignal.timeout(METRICS_TIMEOUT_MS));
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
   * agent sends is returned, except 401, which would only mean the api's AGENT_TOKEN is wrong.
   */
  async open(path: AgentPath, requestId: string | undefined, signal: AbortSignal): Promise<Response> {
    const headersDeadline = AbortSignal.timeout(PROXY_HEADERS_TIMEOUT_MS);
    const res = await this.request(path, AbortSignal.any([signal, headersDeadline]), requestId);
    if (res.status === 401) {
      await res.body?.cancel();
      throw new AgentUnavailableError("the agent refused the api's token (check AGENT_TOKEN)");
    }
    return res;
  }

  private async request(path: AgentPath, signal: AbortSignal, requestId?: string): Promise<Response> {
    const headers: Record<string, string> = {
      accept: path === '/metrics/prometheus' ? 'text/plain' : 'application/json',
    };
    const token = path === '/health' ? undefined : this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    if (requestId) headers['x-request-id'] = requestId;
    let res: Response;
    try {
      // Never follow a redirect: the token must only ever go to AGENT_URL.
      res = await fetch(`${this.config.agent.url}${path}`, { headers, signal, redirect: 'manual' });
    } catch (error) {
      const e = error as Error & { cause?: { code?: string; message?: string } };
      const reason = e.name === 'TimeoutError' ? 'timed out' : (e.cause?.code ?? e.cause?.message ?? e.message);
      throw new AgentUnavailableError(`the agent at ${this.config.agent.url} is unreachable: ${reason}`);
    }
    // A token read from the agent's file may have been replaced since: read it again next time.
    if (res.status === 401) this.fileToken = undefined;
    return res;
  }

  private token(): string | undefined {
    if (this.config.agent.token) return this.config.agent.token;
    const file = this.config.agent.tokenFile;
    if (!file || this.fileToken) return this.fileToken;
    try {
      this.fileToken = readFileSync(file, 'utf8').trim() || undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.logger.warn(`agent token file ${file} is not readable: ${(error as Error).message}`);
    }
    return this.fileToken;
  }
}
