import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { EventsService } from '../events/events.service';
import { MetricsService } from '../metrics/metrics.service';
import { HypervisorError } from '@limen/libvirt';
import { AppException, ErrorCode } from '../common/problem';
import { operationErrorFrom, OperationRunner } from './operation-runner';

/** A database that knows the operations in `rows` and lets every claim succeed. */
function fakeDataSource(rows: Array<{ id: string; claimed_by: string | null; stale: boolean }>) {
  return {
    query: jest.fn(async (sql: string, params: unknown[] = []) => {
      if (sql.includes(`FROM operations WHERE status IN ('pending', 'running')`)) return rows;
      if (sql.includes(`SET status = 'running'`) || sql.includes('finished_at = now()')) {
        return [
          [{ id: params[0], kind: 'test.hold', owner_id: 'owner', vm_id: null, params: {}, created_at: new Date() }],
          1,
        ];
      }
      return [[], 0];
    }),
    // What entityFromRow reads: the column mapping, and create().
    getMetadata: () => ({
      columns: [
        ['id', 'id'],
        ['kind', 'kind'],
        ['ownerId', 'owner_id'],
        ['vmId', 'vm_id'],
        ['params', 'params'],
        ['createdAt', 'created_at'],
      ].map(([propertyName, databaseName]) => ({ propertyName, databaseName })),
    }),
    manager: { create: (_target: unknown, plain: object) => plain },
  } as unknown as DataSource;
}

describe('OperationRunner.recover', () => {
  it('resumes only operations nobody here is executing, not those waiting for a free slot', async () => {
    const rows = [
      { id: 'executing', claimed_by: null, stale: true },
      { id: 'queued-here', claimed_by: null, stale: true },
      { id: 'abandoned', claimed_by: null, stale: true },
      { id: 'fresh', claimed_by: null, stale: false },
    ];
    const runner = new OperationRunner(
      { operationConcurrencyPerHost: 1 } as AppConfig,
      fakeDataSource(rows),
      { publish: async () => undefined } as unknown as EventsService,
      { observeOperation: () => undefined } as unknown as MetricsService,
    );
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    runner.register('test.hold', () => held);
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
