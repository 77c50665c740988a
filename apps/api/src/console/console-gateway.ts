import { BeforeApplicationShutdown, HttpException, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { IncomingMessage, Server, STATUS_CODES } from 'node:http';
import { Duplex } from 'node:stream';
import proxyaddr from 'proxy-addr';
import { WebSocket, WebSocketServer } from 'ws';
import { AuditService } from '../audit/audit.service';
import { AppConfig } from '../config/app-config';
import { UserAccessWatch } from '../users/user-access-watch';
import { AppException, ErrorCode, PROBLEM_CONTENT_TYPE, problemType, titleFor } from '../common/problem';
import { ConsoleConnection, ConsoleService, CONSOLE_SOCKET_PREFIX } from './console.service';
import { AUDITED_USER_AGENT_CHARS, UpgradeRefusals } from './upgrade-refusals';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Pause the VM side while this much is queued towards a slow browser. */
const MAX_BUFFERED_BYTES = 1 << 20;
/** Application close codes (4000-4999). */
const CLOSE_IDLE = 4000;
/** The access behind the session was revoked (user disabled, deleted, logged out everywhere) or its role changed. */
const CLOSE_REVOKED = 4001;
/** The access token the ticket was requested with expired: request a new ticket with a fresh one. */
const CLOSE_EXPIRED = 4002;
const CLOSE_SHUTDOWN = 1001;
const CLOSE_VM_GONE = 1000;
const CLOSE_ERROR = 1011;

/**
 * The console WebSocket endpoint, `GET /api/v1/console/ws/{vmId}?ticket=…`.
 *
 * It hooks the HTTP server's `upgrade` event directly (Nest's router never sees
 * upgrades), so everything is checked before the handshake completes and a
 * refusal is an ordinary HTTP answer (problem+json) the client can read. The
 * URL carries the ticket, so it is never logged: log lines name the VM and user.
 */
@Injectable()
export class ConsoleGateway implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Console');
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1 << 20 });
  private server?: Server;
  /** The client's address as Express sees it: X-Forwarded-For only from hops TRUST_PROXY trusts. */
  private clientAddress: (req: IncomingMessage) => string | null = (req) => req.socket.remoteAddress ?? null;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly consoles: ConsoleService,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
    private readonly access: UserAccessWatch,
    private readonly refusals: UpgradeRefusals,
  ) {}

  onApplicationBootstrap(): void {
    this.server = this.adapterHost.httpAdapter.getHttpServer() as Server;
    this.server.on('upgrade', this.onUpgrade);
    const trust = this.adapterHost.httpAdapter.getInstance<{ get(name: string): unknown }>().get('trust proxy fn');
    if (typeof trust === 'function')
      this.clientAddress = (req) => proxyaddr(req, trust as Parameters<typeof proxyaddr>[1]);
  }

  beforeApplicationShutdown(): void {
    this.server?.off('upgrade', this.onUpgrade);
    for (const client of this.wss.clients) client.close(CLOSE_SHUTDOWN, 'server shutting down');
    // Upgraded sockets keep the HTTP server's close() waiting, so do not leave it to the browsers.
    setTimeout(() => this.wss.clients.forEach((client) => client.terminate()), 1000).unref();
    this.wss.close();
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://upgrade.invalid');
    if (!url.pathname.startsWith(CONSOLE_SOCKET_PREFIX)) {
      // Another listener may own this path; when there is none, answer instead of leaving it hanging.
      if (this.server?.listenerCount('upgrade') === 1) this.refuse(socket, AppException.notFound('WebSocket endpoint'));
      return;
    }
    socket.on('error', () => socket.destroy());
    void this.accept(req, socket, head, url);
  };

  private async accept(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    const vmId = url.pathname.slice(CONSOLE_SOCKET_PREFIX.length);
    if (!UUID.test(vmId)) return this.refuse(socket, AppException.notFound('VM'));
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || !req.headers['sec-websocket-key']) {
      return this.refuse(socket, new AppException(400, ErrorCode.VALIDATION_FAILED, 'Expected a WebSocket handshake'));
    }
    const ip = this.clientAddress(req) ?? 'unknown';
    const retryAfter = this.refusals.admit(ip);
    if (retryAfter > 0) {
      const limited = new AppException(
        429,
        ErrorCode.RATE_LIMITED,
        `Too many refused console connections; retry in ${retryAfter} s`,
        {},
        { 'Retry-After': String(retryAfter) },
      );
      return this.refuse(socket, limited, req, vmId);
    }
    // Checked before the ticket is spent: a page of another site cannot use up a ticket either.
    if (!this.originAllowed(req)) {
      return this.refuse(
        socket,
        new AppException(
          403,
          ErrorCode.ORIGIN_NOT_ALLOWED,
          'Console connections are accepted from this site and CORS_ORIGINS only',
        ),
        req,
        vmId,
      );
    }
    let connection: ConsoleConnection;
    try {
      connection = await this.consoles.connect(url.searchParams.get('ticket') ?? '', vmId);
    } catch (error) {
      return this.refuse(socket, error, req, vmId);
    }
    let upgraded = false;
    // If the handshake never completes (client gone, bad headers), the VM stream and the slot must not leak.
    socket.once('close', () => upgraded || this.end(connection));
    if (!socket.readable || !socket.writable) return this.end(connection);
    this.refusals.connected(ip);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      upgraded = true;
      this.bridge(ws, connection, req);
    });
  }

  /**
   * Browsers send Origin with every WebSocket handshake and let any page open one, so a page of
   * another site holding a ticket (or racing for one) could drive a console: only this site (the
   * Origin's host is the request's Host; without a port in Host, its name) and CORS_ORIGINS are
   * accepted. A handshake without Origin is not from a browser page, so no other site acts
   * through it: command-line clients and scripts connect without one.
   */
  private originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    if (this.config.corsOrigins.includes(origin)) return true;
    const host = req.headers.host?.toLowerCase();
    let from: URL;
    try {
      from = new URL(origin);
    } catch {
      return false; // "null" (sandboxed frames, file: pages) and garbage
    }
    if (!host || (from.protocol !== 'http:' && from.protocol !== 'https:')) return false;
    // nginx forwards `Host: $host`, without the port the browser used: then only names are compared.
    return /:\d+$/.test(host) ? from.host === host : from.hostname === host;
  }

  /** Relays bytes both ways with backpressure, and closes both ends together. */
  private bridge(ws: WebSocket, connection: ConsoleConnection, req: IncomingMessage): void {
    const { target, user, vmId, type } = connection;
    const started = Date.now();
    let toBrowser = 0;
    let toVm = 0;
    const idle = setTimeout(() => ws.close(CLOSE_IDLE, 'idle timeout'), this.config.console.idleTimeoutSeconds * 1000);
    const unwatch = this.endWhenAccessEnds(ws, connection);
    this.logger.log({ userId: user.id, vmId, type }, 'console session opened');
    this.recordConnect(connection.user, vmId, req, { type });

    let paused = false;
    target.on('data', (chunk: Buffer) => {
      idle.refresh();
      toBrowser += chunk.length;
      ws.send(chunk, { binary: true }, () => {
        if (paused && ws.bufferedAmount <= MAX_BUFFERED_BYTES / 2) {
          paused = false;
          target.resume();
        }
      });
      if (!paused && ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        paused = true;
        target.pause();
      }
    });
    ws.on('message', (data: Buffer) => {
      idle.refresh();
      toVm += data.length;
      if (target.destroyed) return;
      if (!target.write(data)) {
        ws.pause();
        target.once('drain', () => ws.resume());
      }
    });
    target.once('end', () => ws.close(CLOSE_VM_GONE, 'the console closed'));
    target.once('close', () => ws.close(CLOSE_VM_GONE, 'the console closed'));
    target.once('error', (error) => {
      this.logger.warn({ vmId, type, err: error }, 'console stream failed');
      ws.close(CLOSE_ERROR, 'the console failed');
    });
    ws.once('close', (code) => {
      clearTimeout(idle);
      unwatch();
      this.end(connection);
      this.logger.log(
        { userId: user.id, vmId, type, code, seconds: Math.round((Date.now() - started) / 1000), toBrowser, toVm },
        'console session closed',
      );
    });
  }

  /** Revoked or expired access ends the session at once: the VM side is cut before the close handshake. */
  private endWhenAccessEnds(ws: WebSocket, connection: ConsoleConnection): () => void {
    const { user, accessToken } = connection;
    return this.access.watch(
      {
        userId: user.id,
        role: user.role,
        tokenVersion: accessToken.version,
        expiresAt: accessToken.expiresAt,
        sessionId: accessToken.sessionId,
      },
      (why) => {
        ws.close(
          why === 'expired' ? CLOSE_EXPIRED : CLOSE_REVOKED,
          why === 'expired' ? 'access token expired' : 'access revoked',
        );
        this.end(connection);
      },
    );
  }

  private end(connection: ConsoleConnection): void {
    connection.target.destroy();
    connection.release();
  }

  /** Answers the upgrade request with a problem+json HTTP response and closes the socket. */
  private refuse(socket: Duplex, error: unknown, req?: IncomingMessage, vmId?: string): void {
    const requestId = randomUUID();
    let status = 503;
    let code: string = ErrorCode.CONSOLE_UNAVAILABLE;
    let detail = 'The console could not be opened';
    let headers = '';
    if (error instanceof AppException) {
      status = error.getStatus();
      code = error.code;
      detail = error.detail;
      headers = Object.entries(error.headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('');
    } else if (error instanceof HttpException) {
      status = error.getStatus();
      code = `HTTP_${status}`;
    } else {
      this.logger.error({ err: error, vmId, requestId }, 'console connect failed');
    }
    if (req && vmId)
      this.refusals.record({
        ip: this.clientAddress(req) ?? 'unknown',
        vmId,
        statusCode: status,
        errorCode: code,
        userAgent: req.headers['user-agent'] ?? null,
      });
    const body = JSON.stringify({ type: problemType(code), title: titleFor(status), status, detail, code, requestId });
    if (!socket.writable) return void socket.destroy();
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
        `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\n${headers}Connection: close\r\n\r\n` +
        body,
    );
  }

  /** Connects are audited like requests (the ticket request itself is audited as console.open; refusals by UpgradeRefusals). */
  private recordConnect(
    user: { id: string; username: string },
    vmId: string,
    req: IncomingMessage,
    details: Record<string, unknown>,
  ): void {
    void this.audit.record({
      actorId: user.id,
      actorUsername: user.username,
      action: 'console.connect',
      targetType: 'console',
      targetId: vmId,
      result: 'success',
      statusCode: 101,
      errorCode: null,
      requestId: null,
      ip: this.clientAddress(req),
      userAgent: req.headers['user-agent']?.slice(0, AUDITED_USER_AGENT_CHARS) ?? null,
      before: null,
      after: null,
      details,
    });
  }
}
