import { HttpStatus } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { NewAuditEntry } from '../audit/audit.repository';
import { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { LeaderJobs } from '../database/leader-jobs';
import { Schedule } from './schedule.entity';
import { ScheduleRunnerJob } from './schedule-runner.job';
import { ScheduledCopy, ScheduleRunner, ScheduleRunners } from './schedule-runners';
import { FakeScheduleRepository } from './testing/fake-schedule-repository';

const T0 = new Date('2026-12-07T12:00:00.000Z');
const minutes = (n: number, from = T0) => new Date(from.getTime() + n * 60_000);

function schedule(fields: Partial<Schedule> = {}): Schedule {
  return Object.assign(new Schedule(), {
    id: `schedule-${Math.random().toString(16).slice(2)}`,
    vmId: 'vm-1',
    ownerId: 'alice',
    kind: 'snapshot',
    cron: '* * * * *',
    timeZone: 'UTC',
    keepLast: null,
    keepDays: null,
    enabled: true,
    nextRunAt: T0,
    lastRunAt: null,
    lastOperationId: null,
    lastError: null,
    version: 1,
    createdAt: minutes(-60),
    updatedAt: minutes(-60),
    ...fields,
  });
}

/** A runner whose copies are ready once `settle()` says so (the operation ended), and that logs what it did. */
class FakeCopies implements ScheduleRunner {
  readonly copiesMade: (ScheduledCopy & { slot: Date })[] = [];
  readonly log: string[] = [];
  refuse: AppException | null = null;
  /** VMs with a copy being made: one operation per VM at a time, as the real runners meet it. */
  readonly busy = new Set<string>();
  private made = 0;

  async run(schedule: Schedule, slot: Date): Promise<{ operationId: string }> {
    if (this.refuse) throw this.refuse;
    if (this.busy.has(schedule.vmId)) {
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.OPERATION_IN_PROGRESS,
        'Another operation on this VM is still in progress',
      );
    }
    this.busy.add(schedule.vmId);
    const id = `copy-${++this.made}`;
    this.copiesMade.push({ id, createdAt: slot, ready: false, slot });
    this.log.push(`run ${id} of ${schedule.id}`);
    return { operationId: `op-${id}` };
  }

  /** The copies' operations end. */
  settle(): void {
    for (const copy of this.copiesMade) copy.ready = true;
    this.busy.clear();
  }

  async copies(): Promise<ScheduledCopy[]> {
    return this.copiesMade.map((c) => ({ ...c }));
  }

  async remove(_schedule: Schedule, copyId: string): Promise<void> {
    if (this.refuse) throw this.refuse;
    this.copiesMade.splice(
      this.copiesMade.findIndex((c) => c.id === copyId),
      1,
    );
    this.log.push(`remove ${copyId}`);
  }
}

function world(...schedules: Schedule[]) {
  const repository = new FakeScheduleRepository(...schedules);
  const runners = new ScheduleRunners();
  const copies = new FakeCopies();
  runners.register('snapshot', copies);
  const audited: NewAuditEntry[] = [];
  const audit = { record: async (entry: NewAuditEntry) => void audited.push(entry) } as unknown as AuditService;
  const config = { copies: { scheduleTickSeconds: 15, scheduleMinIntervalSeconds: 60 } } as AppConfig;
  const replica = () => new ScheduleRunnerJob(config, {} as LeaderJobs, repository.asRepository, runners, audit);
  return { repository, copies, audited, job: replica(), replica };
}

describe('ScheduleRunnerJob', () => {
  it('runs a due slot once, moves the schedule to its next slot and records the run and an audit entry', async () => {
    const s = schedule();
    const { job, repository, copies, audited } = world(s);
    await job.tick(new Date(T0.getTime() + 5_000));
    expect(copies.log).toEqual([`run copy-1 of ${s.id}`]);
    expect(copies.copiesMade[0].slot).toEqual(T0);
    expect(repository.rows.get(s.id)).toMatchObject({
      nextRunAt: minutes(1),
      lastOperationId: 'op-copy-1',
      lastError: null,
      version: 3, // the claim and the record
    });
    expect(audited).toEqual([
      expect.objectContaining({
        action: 'schedule.run',
        targetType: 'schedules',
        targetId: s.id,
        result: 'success',
        details: expect.objectContaining({
          vmId: 'vm-1',
          kind: 'snapshot',
          slot: T0.toISOString(),
          operationId: 'op-copy-1',
        }),
      }),
    ]);
    await job.tick(new Date(T0.getTime() + 20_000));
    expect(copies.log).toHaveLength(1);
  });

  it('leaves schedules alone before their slot and while disabled', async () => {
    const { job, copies } = world(schedule({ nextRunAt: minutes(1) }), schedule({ enabled: false }));
    await job.tick(T0);
    expect(copies.log).toEqual([]);
  });

  it('runs once after downtime however many slots were missed, the next slot counted from now', async () => {
    const s = schedule({ nextRunAt: minutes(-3) });
    const { job, repository, copies } = world(s);
    const now = new Date(T0.getTime() + 10_000);
    await job.tick(now);
    copies.settle();
    await job.tick(now);
    expect(copies.log).toEqual([`run copy-1 of ${s.id}`]);
    expect(repository.rows.get(s.id)!.nextRunAt).toEqual(minutes(1));
  });

  it('two replicas ticking at once run each slot once (the claim is a compare-and-set)', async () => {
    const schedules = Array.from({ length: 5 }, (_, i) => schedule({ vmId: `vm-${i}` }));
    const { copies, replica } = world(...schedules);
    const a = replica();
    const b = replica();
    for (let minute = 0; minute < 3; minute++) {
      const now = new Date(minutes(minute).getTime() + 1_000);
      await Promise.all([a.tick(now), b.tick(now), a.tick(now)]);
      copies.settle();
    }
    expect(copies.log).toHaveLength(15);
    const slots = copies.copiesMade.map((c) => c.slot.toISOString());
    expect(slots.filter((slot) => slot === T0.toISOString())).toHaveLength(5);
  });

  it('a run that cannot start is recorded on the schedule and audited as a failure; the slot is spent', async () => {
    const s = schedule();
    const { job, repository, copies, audited } = world(s);
    copies.refuse = new AppException(HttpStatus.FORBIDDEN, ErrorCode.QUOTA_EXCEEDED, 'Quota exceeded for snapshots');
    await job.tick(T0);
    expect(repository.rows.get(s.id)).toMatchObject({
      nextRunAt: minutes(1),
      lastOperationId: null,
      lastError: 'QUOTA_EXCEEDED: Quota exceeded for snapshots',
    });
    expect(audited[0]).toMatchObject({ action: 'schedule.run', result: 'failure', errorCode: 'QUOTA_EXCEEDED' });
  });

  it('a kind nobody registered a runner for fails its runs instead of the tick', async () => {
    const backup = schedule({ kind: 'backup' });
    const snapshot = schedule({ vmId: 'vm-2' });
    const { job, repository, copies } = world(backup, snapshot);
    await job.tick(T0);
    expect(repository.rows.get(backup.id)!.lastError).toMatch(/no schedule runner registered for backup/);
    expect(copies.log).toEqual([`run copy-1 of ${snapshot.id}`]);
  });

  it('every minute with keepLast 3: after 5 minutes exactly the newest 3 copies, trimmed before each run', async () => {
    const s = schedule({ keepLast: 3 });
    const { job, copies } = world(s);
    for (let minute = 0; minute < 5; minute++) {
      await job.tick(new Date(minutes(minute).getTime() + 1_000));
      copies.settle(); // the copy's operation ends before the next tick
      await job.tick(new Date(minutes(minute).getTime() + 16_000));
    }
    expect(copies.copiesMade.map((c) => c.id)).toEqual(['copy-3', 'copy-4', 'copy-5']);
    // Retention runs every tick, so each new copy was trimmed within a tick of being ready.
    expect(copies.log.map((line) => line.replace(` of ${s.id}`, ''))).toEqual([
      'run copy-1',
      'run copy-2',
      'run copy-3',
      'run copy-4',
      'remove copy-1',
      'run copy-5',
      'remove copy-2',
    ]);
  });

  it('never drops the last good copy, and stops trimming when the VM refuses (the next tick goes on)', async () => {
    const s = schedule({ keepDays: 1, nextRunAt: minutes(60 * 24 * 30) });
    const { job, copies } = world(s);
    copies.copiesMade.push(
      { id: 'old-1', createdAt: minutes(-60 * 24 * 9), ready: true, slot: T0 },
      { id: 'old-2', createdAt: minutes(-60 * 24 * 8), ready: true, slot: T0 },
      { id: 'old-3', createdAt: minutes(-60 * 24 * 7), ready: true, slot: T0 },
      { id: 'making', createdAt: minutes(-1), ready: false, slot: T0 },
    );
    copies.refuse = new AppException(HttpStatus.CONFLICT, ErrorCode.OPERATION_IN_PROGRESS, 'busy');
    await job.tick(T0);
    expect(copies.copiesMade).toHaveLength(4);
    copies.refuse = null;
    await job.tick(T0);
    expect(copies.log).toEqual(['remove old-1', 'remove old-2']);
    expect(copies.copiesMade.map((c) => c.id)).toEqual(['old-3', 'making']);
  });

  it('two schedules of one VM due at the same slot both run: the one finding the VM busy gives the slot back for the next tick', async () => {
    const hourly = schedule({ cron: '0 * * * *' });
    const daily = schedule({ cron: '0 3 * * *' });
    const { job, repository, copies, audited } = world(hourly, daily);
    await job.tick(new Date(T0.getTime() + 1_000));
    expect(copies.log).toHaveLength(1);
    const [first, second] = copies.log[0].endsWith(hourly.id) ? [hourly, daily] : [daily, hourly];
    expect(repository.rows.get(second.id)).toMatchObject({ nextRunAt: T0, lastError: null });
    expect(audited).toHaveLength(1);
    // Still busy at the next tick: given back again.
    await job.tick(new Date(T0.getTime() + 16_000));
    expect(copies.log).toHaveLength(1);
    copies.settle();
    await job.tick(new Date(T0.getTime() + 31_000));
    expect(copies.log).toEqual([`run copy-1 of ${first.id}`, `run copy-2 of ${second.id}`]);
    expect(copies.copiesMade.map((c) => c.slot)).toEqual([T0, T0]);
    expect(repository.rows.get(second.id)).toMatchObject({ lastOperationId: 'op-copy-2', lastError: null });
    expect(audited.map((e) => e.result)).toEqual(['success', 'success']);
  });

  it('a VM busy past the retry window (or the next slot) spends the slot and records why', async () => {
    const everyMinute = schedule();
    const { job, repository, copies, audited } = world(everyMinute);
    copies.busy.add('vm-1');
    await job.tick(new Date(T0.getTime() + 30_000));
    expect(repository.rows.get(everyMinute.id)!.nextRunAt).toEqual(T0);
    // The next slot (T0 + 1 min) has come: this one is given up, and the next one is due from now.
    await job.tick(new Date(T0.getTime() + 61_000));
    expect(repository.rows.get(everyMinute.id)).toMatchObject({
      nextRunAt: minutes(2),
      lastOperationId: null,
      lastError: expect.stringMatching(/^OPERATION_IN_PROGRESS/),
    });
    expect(audited).toEqual([expect.objectContaining({ result: 'failure', errorCode: 'OPERATION_IN_PROGRESS' })]);
    expect(copies.log).toEqual([]);
  });
});
