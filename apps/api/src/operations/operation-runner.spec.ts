import { AppConfig } from '../config/app-config';
import { EventsService } from '../events/events.service';
import { MetricsService } from '../metrics/metrics.service';
import { HypervisorError } from '@limen/libvirt';
import { AppException, ErrorCode } from '../common/problem';
import { Operation, OperationError, OperationStatus } from './operation.entity';
import { Claim, OperationRepository, UnfinishedOperation } from './operation.repository';
import { operationErrorFrom, OperationRunner } from './operation-runner';

/** The operations table in memory: the claim and finish rules of OperationRepository, without SQL. */
class FakeOperationRepository {
  readonly rows = new Map<string, Operation>();
  /** Ids whose heartbeat (or creation) is older than the stale window. */
  readonly stale = new Set<string>();

  add(id: string, fields: Partial<Operation> = {}): Operation {
    const op = Object.assign(new Operation(), {
      id,
      kind: 'vm.start',
      status: 'pending',
      ownerId: 'owner',
      vmId: null,
      params: { timeoutSeconds: 60, force: false },
      result: null,
      error: null,
      claimedBy: null,
      createdAt: new Date(),
      startedAt: null,
      finishedAt: null,
      ...fields,
    } satisfies Partial<Operation>);
    this.rows.set(id, op);
    return op;
  }

  async unfinished(): Promise<UnfinishedOperation[]> {
    return [...this.rows.values()]
      .filter((op) => op.status === 'pending' || op.status === 'running')
      .map((op) => ({ id: op.id, claimedBy: op.claimedBy, stale: this.stale.has(op.id) }));
  }

  async claim(id: string, claim: Claim): Promise<Operation | null> {
    const op = this.rows.get(id);
    const claimable =
      op?.status === 'pending' ||
      (claim.takeOver && op?.status === 'running' && op.claimedBy === claim.takeOver.claimedBy);
    if (!op || !claimable) return null;
    Object.assign(op, { status: 'running', claimedBy: claim.claimedBy, startedAt: op.startedAt ?? new Date() });
    return { ...op };
  }

  async finish(
    id: string,
    status: OperationStatus,
    result: Record<string, unknown> | null,
    error: OperationError | null,
  ): Promise<Operation | null> {
    const op = this.rows.get(id);
    if (!op) return null;
    Object.assign(op, { status, result, error, claimedBy: null, finishedAt: new Date() });
    return { ...op };
  }

  async statusOf(id: string): Promise<OperationStatus | null> {
    return this.rows.get(id)?.status ?? null;
  }

  async heartbeat(): Promise<void> {}
}

function runnerOver(operations: FakeOperationRepository, concurrency = 1) {
  const published: unknown[] = [];
  const runner = new OperationRunner(
    { operationConcurrencyPerHost: concurrency } as AppConfig,
    operations as unknown as OperationRepository,
    { publish: async (event: unknown) => void published.push(event) } as unknown as EventsService,
    { observeOperation: () => undefined } as unknown as MetricsService,
  );
  return { runner, published };
}

describe('OperationRunner', () => {
  let operations: FakeOperationRepository;

  beforeEach(() => (operations = new FakeOperationRepository()));

  it('runs a submitted operation with its handler and records the result, announcing start and end', async () => {
    operations.add('op1', { vmId: 'vm1' });
    const { runner, published } = runnerOver(operations);
    runner.register('vm.start', async (op) => ({ timeout: op.params.timeoutSeconds }));
    runner.submit('op1');
    const done = await runner.waitForEnd('op1', 1_000);
    expect(done).toMatchObject({ status: 'succeeded', result: { timeout: 60 }, claimedBy: null });
    expect(published).toEqual([
      expect.objectContaining({ type: 'operation.updated', payload: expect.objectContaining({ status: 'running' }) }),
      expect.objectContaining({ type: 'operation.updated', payload: expect.objectContaining({ status: 'succeeded' }) }),
    ]);
    runner.onApplicationShutdown();
  });

  it('records a failure with its stable code; an operation of a kind nobody handles fails INTERNAL_ERROR', async () => {
    operations.add('op1');
    operations.add('op2', { kind: 'vm.stop' });
    const { runner } = runnerOver(operations, 2);
    runner.register('vm.start', async () => {
      throw new HypervisorError('INVALID_STATE', 'domain is not running');
    });
    runner.submit('op1');
    runner.submit('op2');
    const [first, second] = await Promise.all([runner.waitForEnd('op1', 1_000), runner.waitForEnd('op2', 1_000)]);
    expect(first).toMatchObject({ status: 'failed', error: { code: 'INVALID_STATE' } });
    expect(second).toMatchObject({ status: 'failed', error: { code: 'INTERNAL_ERROR' } });
    runner.onApplicationShutdown();
  });

  it('does not run an operation another replica already claimed', async () => {
    operations.add('op1', { status: 'running', claimedBy: 'elsewhere:1:aaaa' });
    const { runner } = runnerOver(operations);
    const handler = jest.fn(async () => undefined);
    runner.register('vm.start', handler);
    runner.submit('op1');
    await new Promise((r) => setImmediate(r));
    expect(handler).not.toHaveBeenCalled();
    expect(operations.rows.get('op1')?.claimedBy).toBe('elsewhere:1:aaaa');
    runner.onApplicationShutdown();
  });

  it('recover resumes only operations nobody here is executing, not those waiting for a free slot', async () => {
    for (const id of ['executing', 'queued-here', 'abandoned']) operations.add(id);
    operations.add('fresh');
    for (const id of ['executing', 'queued-here', 'abandoned']) operations.stale.add(id);
    const { runner } = runnerOver(operations);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    runner.register('vm.start', () => held);
    runner.submit('executing');
    runner.submit('queued-here'); // waits: the one slot is taken
    await new Promise((r) => setImmediate(r));
    try {
      expect(await runner.recover()).toBe(1); // 'abandoned' alone
    } finally {
      release();
      await Promise.all(['executing', 'queued-here', 'abandoned'].map((id) => runner.waitForEnd(id, 50)));
      runner.onApplicationShutdown();
    }
    expect(operations.rows.get('abandoned')?.status).toBe('succeeded');
    expect(operations.rows.get('fresh')?.status).toBe('pending');
  });

  it('recover takes over a running operation whose heartbeat stopped, under the claim it saw', async () => {
    operations.add('orphan', { status: 'running', claimedBy: 'gone-host:1:aaaa' });
    operations.stale.add('orphan');
    const { runner } = runnerOver(operations);
    runner.register('vm.start', async () => undefined);
    const ended = runner.waitForEnd('orphan', 1_000);
    expect(await runner.recover()).toBe(1);
    expect(await ended).toMatchObject({ status: 'succeeded', claimedBy: null });
    runner.onApplicationShutdown();
  });
});

describe('operationErrorFrom', () => {
  it("security 11.15: a hypervisor failure is recorded with its stable code and a fixed detail, never the hypervisor's text", () => {
    const raw =
      "virsh start: Cannot access storage file '/var/lib/limen/vms/5f0c/disk.qcow2' (as uid:64055, gid:64055): No such file or directory";
    const recorded = operationErrorFrom(
      new HypervisorError('OPERATION_FAILED', raw, `error: Failed to start domain 'limen-5f0c'\nerror: ${raw}`),
    );
    expect(recorded).toEqual({ code: 'OPERATION_FAILED', detail: expect.any(String) });
    expect(JSON.stringify(recorded)).not.toMatch(/\/var\/lib|uid|gid|limen-5f0c|virsh/);
    expect(
      operationErrorFrom(
        new HypervisorError('INVALID_STATE', 'volume /var/lib/limen/vms/5f0c/disk.qcow2 is in use by a running VM'),
      ),
    ).toEqual({ code: 'INVALID_STATE', detail: 'The VM is not in a state that allows this' });
  });

  it("keeps an AppException's own detail, which the api wrote for users", () => {
    expect(
      operationErrorFrom(new AppException(507, ErrorCode.INSUFFICIENT_STORAGE, 'The VM directory is full')),
    ).toEqual({ code: 'INSUFFICIENT_STORAGE', detail: 'The VM directory is full' });
  });
});
