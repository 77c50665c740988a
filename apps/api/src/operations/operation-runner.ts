import { HttpStatus, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { HypervisorError } from '@limen/libvirt';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { filter, firstValueFrom, Subject, timeout as rxTimeout } from 'rxjs';
import { AppConfig } from '../config/app-config';
import { hypervisorLogText, userDetailOf } from '../common/hypervisor-details';
import { AppException, ErrorCode } from '../common/problem';
import { EventsService, NewEvent } from '../events/events.service';
import { MetricsService } from '../metrics/metrics.service';
import { OperationKind } from './operation-kinds';
import { Operation, OperationError, OperationStatus } from './operation.entity';
import { OperationRepository } from './operation.repository';

/** Executes one kind of operation. Must be idempotent: after a crash it runs again from the start. */
export type OperationHandler<K extends OperationKind = OperationKind> = (
  op: Operation<K>,
) => Promise<Record<string, unknown> | void>;

const HEARTBEAT_MS = 5_000;
/** An operation whose heartbeat is older than this belongs to a dead process and may be taken over. */
const STALE_MS = 15_000;

/** Bounded concurrency: at most `limit` operations touch the hypervisor at once. */
class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}

  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

/** The `operation.updated` event for an operation as it now is: the one builder of that payload. */
export function operationUpdatedEvent(op: Operation): NewEvent {
  return {
    type: 'operation.updated',
    ownerId: op.ownerId,
    vmId: op.vmId,
    // A freshly inserted operation has no error yet; the event always says it (null).
    payload: { id: op.id, kind: op.kind, status: op.status, vmId: op.vmId, error: op.error ?? null },
  };
}

/** What a failed operation records and shows its owner: a stable code, and never the hypervisor's own text. */
export function operationErrorFrom(error: unknown): OperationError {
  if (error instanceof AppException) return { code: error.code, detail: error.detail };
  if (HypervisorError.is(error)) return { code: error.code, detail: userDetailOf(error) };
  return { code: ErrorCode.INTERNAL_ERROR, detail: 'The operation failed unexpectedly' };
}

/**
 * Runs operations after the request that created them has committed, and
 * takes over operations left behind by a process that died (heartbeats).
 */
@Injectable()
export class OperationRunner implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Operations');
  readonly instanceId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly handlers = new Map<OperationKind, OperationHandler>();
  private readonly semaphore: Semaphore;
  private readonly running = new Set<string>();
  private readonly finished$ = new Subject<Operation>();
  private stopping = false;

  constructor(
    config: AppConfig,
    private readonly operations: OperationRepository,
    private readonly events: EventsService,
    private readonly metrics: MetricsService,
  ) {
    this.semaphore = new Semaphore(config.operationConcurrencyPerHost);
  }

  register<K extends OperationKind>(kind: K, handler: OperationHandler<K>): void {
    // Stored by kind and only ever called with an operation of that kind (see execute).
    this.handlers.set(kind, handler as OperationHandler);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.recover(true);
  }

  onApplicationShutdown(): void {
    this.stopping = true;
  }

  /**
   * Starts executing a committed operation in the background. `takeOver` names
   * the claim (null: unclaimed) under which a running operation may be taken
   * from a dead process; without it only a pending operation is claimed.
   */
  submit(operationId: string, takeOver?: { claimedBy: string | null }): void {
    if (this.running.has(operationId) || this.stopping) return;
    this.running.add(operationId);
    void this.execute(operationId, takeOver).finally(() => this.running.delete(operationId));
  }

  /**
   * Re-submits operations nobody is executing: pending ones older than the
   * stale window, running ones whose heartbeat stopped, and, at start-up, those
   * claimed by a process on this host that no longer exists.
   */
  async recover(atStartup = false): Promise<number> {
    const rows = await this.operations.unfinished(STALE_MS / 1000);
    // A fresh pending operation belongs to the replica that just created it; only a stale one,
    // or (at start-up) one claimed by a dead process on this host, is taken over. One this process
    // already holds is not left unfinished: under load a pending operation waits here for a free
    // slot longer than the stale window, and counting it had every sweep warn of resumed work.
    const orphans = rows.filter(
      (row) =>
        !this.running.has(row.id) &&
        (row.stale || (atStartup && row.claimedBy !== null && this.isAbandoned(row.claimedBy))),
    );
    for (const row of orphans) this.submit(row.id, { claimedBy: row.claimedBy });
    if (orphans.length) this.logger.warn(`Resuming ${orphans.length} operation(s) left unfinished`);
    return orphans.length;
  }

  /**
   * Resolves once the operation is terminal or after `timeoutMs`: with the finished operation
   * when this replica ran it, otherwise with null (read it again).
   */
  async waitForEnd(operationId: string, timeoutMs: number): Promise<Operation | null> {
    if (timeoutMs <= 0) return null;
    return Promise.race([
      firstValueFrom(
        this.finished$.pipe(
          filter((op) => op.id === operationId),
          rxTimeout(timeoutMs),
        ),
      ).catch(() => null),
      // Another replica may be running it: poll too.
      this.pollUntilTerminal(operationId, timeoutMs).then(() => null),
    ]);
  }

  private async pollUntilTerminal(operationId: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, deadline - Date.now()))));
      const status = await this.operations.statusOf(operationId);
      if (status !== 'pending' && status !== 'running') return;
    }
  }

  /** A claim by a dead process on this host, or by nobody; claims from other hosts wait for the heartbeat window. */
  private isAbandoned(claimedBy: string | null): boolean {
    if (!claimedBy) return true;
    const [host, pid] = claimedBy.split(':');
    if (host !== hostname()) return false;
    if (Number(pid) === process.pid) return !claimedBy.endsWith(this.instanceId.split(':')[2]);
    try {
      process.kill(Number(pid), 0);
      return false;
    } catch {
      return true;
    }
  }

  private async execute(operationId: string, takeOver?: { claimedBy: string | null }): Promise<void> {
    await this.semaphore.acquire();
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      const op = await this.claim(operationId, takeOver);
      if (!op) return;
      const handler = this.handlers.get(op.kind);
      heartbeat = setInterval(
        () => void this.operations.heartbeat(op.id, this.instanceId).catch(() => undefined),
        HEARTBEAT_MS,
      );
      try {
        if (!handler)
          throw new AppException(
            HttpStatus.INTERNAL_SERVER_ERROR,
            ErrorCode.INTERNAL_ERROR,
            `No handler for ${op.kind}`,
          );
        const result = await handler(op);
        await this.finish(op, 'succeeded', result ?? null, null);
      } catch (error) {
        const opError = operationErrorFrom(error);
        if (opError.code === ErrorCode.INTERNAL_ERROR)
          this.logger.error({ err: error, operationId: op.id }, `${op.kind} failed`);
        else
          this.logger.warn(
            `${op.kind} ${op.id} failed: ${opError.code} ${HypervisorError.is(error) ? hypervisorLogText(error) : opError.detail}`,
          );
        await this.finish(op, 'failed', null, opError);
      }
    } catch (error) {
      // The database itself failed; the operation stays claimed and is recovered by the sweep.
      this.logger.error({ err: error, operationId }, 'operation bookkeeping failed');
    } finally {
      if (heartbeat) clearInterval(heartbeat);
      this.semaphore.release();
    }
  }

  /** Takes the operation (see OperationRepository.claim) and announces it running. */
  private async claim(operationId: string, takeOver?: { claimedBy: string | null }): Promise<Operation | null> {
    const op = await this.operations.claim(operationId, { claimedBy: this.instanceId, takeOver });
    if (!op) return null;
    await this.events.publish(operationUpdatedEvent(op));
    return op;
  }

  private async finish(
    op: Operation,
    status: OperationStatus,
    result: Record<string, unknown> | null,
    error: OperationError | null,
  ): Promise<void> {
    const done = await this.operations.finish(op.id, status, result, error);
    if (!done) throw new Error(`operation ${op.id} vanished while running`);
    // Waiters first: the event and the metric are not what a long-poll is waiting for.
    this.finished$.next(done);
    this.metrics.observeOperation(
      done.kind,
      status,
      ((done.finishedAt ?? new Date()).getTime() - (done.startedAt ?? done.createdAt).getTime()) / 1000,
    );
    await this.events.publish(operationUpdatedEvent(done));
  }
}
