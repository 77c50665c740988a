import { randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AgentPath } from '@limen/agent-contract';
import { MetricsSnapshot } from '../metrics/metrics-snapshot';
import { PROMETHEUS_CONTENT_TYPE } from '../metrics/prometheus-exposition';
import { SampleTimeoutError } from '../metrics/sample-cache';
import { BearerTokenVerifier } from './bearer-token';
import { Problem, sendProblem } from './problem';

export interface AgentServerDeps {
  /** The current sample; the sample cache decides whether that means taking a new one. */
  snapshot: () => Promise<MetricsSnapshot>;
  verifier: BearerTokenVerifier;
  logger: Logger;
}

type Route = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const UNAUTHENTICATED: Problem = {
  status: 401,
  code: 'UNAUTHENTICATED',
  detail: 'A valid Authorization: Bearer <AGENT_TOKEN> header is required',
};

function send(res: ServerResponse, contentType: string, body: string): void {
  res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  res.end(body);
}

/** Every path of the contract, and nothing else, is served. */
function agentRoutes(snapshot: AgentServerDeps['snapshot']): Record<string, { auth: boolean; handle: Route }> {
  return {
    '/health': {
      auth: false,
      handle: async (_req, res) => send(res, 'application/json', JSON.stringify({ status: 'ok' })),
    },
    '/metrics': { auth: true, handle: async (_req, res) => send(res, 'application/json', (await snapshot()).json()) },
    '/metrics/prometheus': {
      auth: true,
      handle: async (_req, res) => send(res, PROMETHEUS_CONTENT_TYPE, await (await snapshot()).prometheus()),
    },
  } satisfies Record<AgentPath, { auth: boolean; handle: Route }>;
}

/** One log line per answered request, once its response is out. */
function logWhenFinished(logger: Logger, req: IncomingMessage, res: ServerResponse, requestId: string, path: string) {
  const started = performance.now();
  res.once('finish', () => {
    const ms = Math.round((performance.now() - started) * 10) / 10;
    logger.info(
      {
        requestId,
        method: req.method,
        url: path,
        status: res.statusCode,
        responseTimeMs: ms,
        remoteAddress: req.socket.remoteAddress,
      },
      'request completed',
    );
  });
}

/**
 * The agent's three routes on plain node:http. A Nest app idled at ~95 MB RSS here before
 * taking a single sample, over the agent's 80 MB budget; three routes need no framework.
 */
export function createAgentServer({ snapshot, verifier, logger }: AgentServerDeps): Server {
  const routes = agentRoutes(snapshot);

  const server = createServer((req, res) => {
    // After close() a keep-alive socket would linger until the client drops it or
    // keepAliveTimeout passes, delaying exit; close it as soon as its response is out.
    res.once('finish', () => {
      if (!server.listening) setImmediate(() => server.closeIdleConnections());
    });
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    const path = (req.url ?? '/').split('?')[0];
    const problem = (p: Problem, headers?: Record<string, string>) => sendProblem(res, p, requestId, path, headers);

    // Like the api, health probes are not logged: they would drown everything else.
    if (path !== '/health') logWhenFinished(logger, req, res, requestId, path);

    const route = routes[path];
    if (route === undefined)
      return problem({ status: 404, code: 'ROUTE_NOT_FOUND', detail: `No route for ${req.method} ${path}` });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return problem(
        { status: 405, code: 'METHOD_NOT_ALLOWED', detail: `${req.method} is not allowed on ${path}` },
        { Allow: 'GET, HEAD' },
      );
    }
    if (route.auth && !verifier.verify(req.headers.authorization)) {
      return problem(UNAUTHENTICATED, { 'WWW-Authenticate': 'Bearer realm="limen-agent"' });
    }
    route.handle(req, res).catch((error: unknown) => {
      if (error instanceof SampleTimeoutError) {
        logger.warn({ requestId, err: error }, 'host sample timed out');
        return problem({
          status: 503,
          code: 'SERVICE_UNAVAILABLE',
          detail: 'Sampling the host timed out; try again shortly',
        });
      }
      logger.error({ requestId, err: error }, 'request failed');
      if (res.headersSent) return res.end();
      problem({ status: 500, code: 'INTERNAL_ERROR', detail: 'An unexpected error occurred' });
    });
  });
  return server;
}
