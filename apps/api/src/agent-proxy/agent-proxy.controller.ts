import { Controller, Get, HttpStatus, Req, Res, VERSION_NEUTRAL } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { AGENT_PATHS, AgentPath } from '@limen/agent-contract';
import { Roles } from '../auth/decorators';
import { ApiProblems, problemResponse } from '../common/api-problems.decorator';
import { AppException, ErrorCode } from '../common/problem';
import { AgentHealthDto, AgentHostMetricsDto } from './dto/agent-metrics.dto';
import { AgentClient, AgentUnavailableError } from './agent-client';
import { ScopeResource } from '../auth/scopes';

/** The headers of the agent's answer worth passing on; hop-by-hop and framing headers are not. */
const FORWARDED_HEADERS = ['content-type', 'cache-control', 'www-authenticate', 'allow'];

/**
 * Maps `/agent/<rest>` to the agent path `/<rest>`, or undefined. The exact allow-list match on the
 * raw (undecoded) path is the whole validation: `..`, `//`, percent-escapes, backslashes, absolute
 * URLs, and the trailing slashes and case variants Express's router would let through, can never
 * equal one of the three known paths, so nothing else can reach the agent.
 */
export function agentPathOf(requestPath: string): AgentPath | undefined {
  const rest = requestPath.startsWith('/agent/') ? requestPath.slice('/agent'.length) : undefined;
  return AGENT_PATHS.find((known) => known === rest);
}

function AgentUnavailable(): MethodDecorator {
  return ApiResponse({
    status: 502,
    ...problemResponse(502, "AGENT_UNAVAILABLE: the agent is unreachable, too slow, or refused the api's token"),
  });
}

/**
 * Reverse proxy to the host metrics agent, as in the original architecture: outside /api, admins
 * only, GET only, and only the agent's three paths. Any other /agent path is 404.
 */
@ApiTags('agent')
@ApiBearerAuth()
@ApiProblems(401, 403, 404)
@Roles('admin')
@ScopeResource('hosts')
@Controller({ path: 'agent', version: VERSION_NEUTRAL })
export class AgentProxyController {
  constructor(private readonly agent: AgentClient) {}

  /** The agent's liveness (`{"status":"ok"}`), through the api. */
  @Get('health')
  @ApiOkResponse({ description: "The agent's answer", type: AgentHealthDto })
  @AgentUnavailable()
  health(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.forward(req, res);
  }

  /** One host sample as JSON (CPU, load, memory, swap, disks, network, QEMU processes): the agent's HostMetrics. */
  @Get('metrics')
  @ApiOkResponse({ description: "The agent's answer", type: AgentHostMetricsDto })
  @AgentUnavailable()
  metrics(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.forward(req, res);
  }

  /** The same sample in the Prometheus text exposition format. */
  @Get('metrics/prometheus')
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: "The agent's answer", schema: { type: 'string' } })
  @AgentUnavailable()
  prometheus(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.forward(req, res);
  }

  /** Streams the agent's answer through with its status and content type. */
  private async forward(req: Request, res: Response): Promise<void> {
    const path = agentPathOf(req.path);
    if (!path) throw new AppException(HttpStatus.NOT_FOUND, ErrorCode.ROUTE_NOT_FOUND, `No route for GET ${req.path}`);
    // A client that goes away cancels the upstream request too.
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    let upstream: globalThis.Response;
    try {
      upstream = await this.agent.open(path, req.id === undefined ? undefined : String(req.id), abort.signal);
    } catch (error) {
      if (error instanceof AgentUnavailableError)
        throw new AppException(HttpStatus.BAD_GATEWAY, ErrorCode.AGENT_UNAVAILABLE, error.message);
      throw error;
    }
    res.status(upstream.status);
    for (const name of FORWARDED_HEADERS) {
      const value = upstream.headers.get(name);
      if (value !== null) res.setHeader(name, value);
    }
    if (!upstream.body) {
      res.end();
      return;
    }
    await pipeline(Readable.fromWeb(upstream.body as WebReadableStream<Uint8Array>), res).catch(() => {
      // The client left or the agent broke off mid-body: the status is already out, so just stop.
      res.destroy();
    });
  }
}
