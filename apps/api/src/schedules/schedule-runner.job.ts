import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HypervisorError } from '@limen/libvirt';
import { AuditService } from '../audit/audit.service';
import { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { LeaderJobs } from '../database/leader-jobs';
import { nextSlotAfter } from './schedule-cron';
import { Schedule } from './schedule.entity';
import { ScheduleRepository } from './schedule.repository';
import { copiesToDrop } from './schedule-retention';
import { ScheduleRunners } from './schedule-runners';

/** Due schedules taken per tick; the rest wait for the next (their slot stays due, so none is lost). */
const DUE_PER_TICK = 200;
/** VMs served at once in a tick; one VM's schedules go one after another (one operation per VM at a time). */
const VMS_AT_ONCE = 8;

/**
 * A run the VM refuses for now (busy with another operation, say another schedule's of the same
 * slot) gives its slot back and is tried again by later ticks for this long after the slot, or
 * until the slot after it, whichever is sooner; after that the slot is spent and the refusal recorded.
 */
const BUSY_RETRY_MS = 10 * 60_000;

/** The problem code and detail of why a run or a removal could not start. */
function failureOf(error: unknown): { code: string; text: string } {
  if (error instanceof AppException) return { code: String(error.code), text: `${error.code}: ${error.detail}` };
  if (error instanceof HypervisorError) return { code: error.code, text: `${error.code}: ${error.message}` };
  return { code: ErrorCode.INTERNAL_ERROR, text: (error as Error).message };
}

/** Refusals that say "not now" (the VM is busy or in a state that forbids it): the next tick tries again. */
function isNotNow(error: unknown): boolean {
  return (
    error instanceof AppException &&
    (error.code === ErrorCode.OPERATION_IN_PROGRESS || error.code === ErrorCode.INVALID_STATE)
  );
}

/**
 * Runs due schedules and applies their retention, every SCHEDULE_TICK_SECONDS on the leader. Each
 * slot is claimed by a compare-and-set on the row before it runs, so exactly one replica runs it
 * even when two tick at once (a leader change); the next slot is the first after now, so after
 * downtime a schedule runs once, not once per missed slot.
 */
@Injectable()
export class ScheduleRunnerJob implements OnApplicationBootstrap {
  private readonly logger = new Logger('Schedules');

  constructor(
    private readonly config: AppConfig,
    private readonly jobs: LeaderJobs,
    private readonly schedules: ScheduleRepository,
    private readonly runners: ScheduleRunners,
    private readonly audit: AuditService,
  ) {}

  onApplicationBootstrap(): void {
    this.jobs.every('schedule-runner', this.config.copies.scheduleTickSeconds, () => this.tick());
  }

  /**
   * One pass: every due slot is claimed and run, and every schedule with a retention rule has its
   * surplus copies dropped (each tick, so copies that became ready since the last run are counted
   * within a tick of it). A VM's retention goes before its run: removals are operations on the VM
   * too, and a run started first would find the VM busy.
   */
  async tick(now: Date = new Date()): Promise<void> {
    const byVm = new Map<string, { schedule: Schedule; due: boolean }[]>();
    const add = (schedule: Schedule, due: boolean) => {
      const work = byVm.get(schedule.vmId) ?? [];
      if (!work.some((w) => w.schedule.id === schedule.id)) work.push({ schedule, due });
      byVm.set(schedule.vmId, work);
    };
    for (const schedule of await this.schedules.due(now, DUE_PER_TICK)) add(schedule, true);
    for (const schedule of await this.schedules.withRetention()) add(schedule, false);
    const vms = [...byVm.values()];
    const serveNext = async (): Promise<void> => {
      for (let work = vms.shift(); work; work = vms.shift()) {
        for (const { schedule, due } of work) await this.serve(schedule, due, now);
      }
    };
    await Promise.all(Array.from({ length: VMS_AT_ONCE }, serveNext));
  }

  private async serve(schedule: Schedule, due: boolean, now: Date): Promise<void> {
    try {
      if (!due) return await this.retain(schedule, now);
      const slot = schedule.nextRunAt;
      const claimed = await this.schedules.claim(
        schedule.id,
        slot,
        nextSlotAfter(schedule.cron, schedule.timeZone, now),
      );
      if (!claimed) return; // another replica took the slot, or the schedule changed under us
      await this.retain(claimed, now);
      await this.run(claimed, slot, now);
    } catch (error) {
      this.logger.warn(`schedule ${schedule.id}: ${(error as Error).message}`);
    }
  }

  /**
   * Starts the slot's copy and records how that went, on the schedule and in the audit log; or,
   * refused for now within BUSY_RETRY_MS of the slot, gives the slot back for a later tick.
   */
  private async run(schedule: Schedule, slot: Date, now: Date): Promise<void> {
    let operationId: string | null = null;
    let failure: { code: string; text: string } | null = null;
    try {
      operationId = (await this.runners.of(schedule.kind).run(schedule, slot)).operationId;
    } catch (error) {
      const followingSlot = nextSlotAfter(schedule.cron, schedule.timeZone, slot);
      const retryUntil = Math.min(slot.getTime() + BUSY_RETRY_MS, followingSlot.getTime());
      if (isNotNow(error) && now.getTime() < retryUntil) {
        if (await this.schedules.release(schedule.id, slot, schedule.nextRunAt)) return;
      }
      failure = failureOf(error);
    }
    await this.schedules.recordRun(schedule.id, { lastOperationId: operationId, lastError: failure?.text ?? null });
    await this.audit.record({
      actorId: null,
      actorUsername: null,
      action: 'schedule.run',
      targetType: 'schedules',
      targetId: schedule.id,
      result: failure ? 'failure' : 'success',
      statusCode: null,
      errorCode: failure?.code ?? null,
      requestId: null,
      ip: null,
      userAgent: null,
      before: null,
      after: null,
      details: {
        vmId: schedule.vmId,
        ownerId: schedule.ownerId,
        kind: schedule.kind,
        slot: slot.toISOString(),
        operationId,
        error: failure?.text ?? null,
      },
    });
  }

  /** Drops the copies the rule no longer keeps, oldest first; stops at the first the VM refuses (next tick). */
  private async retain(schedule: Schedule, now: Date): Promise<void> {
    if (schedule.keepLast === null && schedule.keepDays === null) return;
    const runner = this.runners.of(schedule.kind);
    for (const copy of copiesToDrop(await runner.copies(schedule), schedule, now)) {
      try {
        await runner.remove(schedule, copy.id);
      } catch (error) {
        if (!isNotNow(error))
          this.logger.warn(`schedule ${schedule.id}: removing copy ${copy.id}: ${failureOf(error).text}`);
        return;
      }
    }
  }
}
