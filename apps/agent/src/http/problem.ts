import type { ServerResponse } from 'node:http';

/** The same stable codes the api uses, for the cases the agent can produce. */
export type AgentErrorCode =
  'UNAUTHENTICATED' | 'ROUTE_NOT_FOUND' | 'METHOD_NOT_ALLOWED' | 'SERVICE_UNAVAILABLE' | 'INTERNAL_ERROR';

const TITLES: Record<number, string> = {
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export interface Problem {
  status: number;
  code: AgentErrorCode;
  detail: string;
}

/** Writes RFC 9457 problem+json in the api's shape: {type, title, status, detail, code, requestId, instance}. */
export function sendProblem(
  res: ServerResponse,
  problem: Problem,
  requestId: string,
  instance: string,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify({
    type: `https://limen.dev/problems/${problem.code.toLowerCase().replace(/_/g, '-')}`,
    title: TITLES[problem.status] ?? 'Error',
    status: problem.status,
    detail: problem.detail,
    code: problem.code,
    requestId,
    instance,
  });
  res.writeHead(problem.status, {
    ...headers,
    'Content-Type': 'application/problem+json',
    'Cache-Control': 'no-store',
  });
  res.end(body);
}
