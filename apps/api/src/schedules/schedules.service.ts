import { HttpStatus, Injectable } from '@nestjs/common';
import { AuthUser } from '../auth/decorators';
import { AppConfig } from '../config/app-config';
import { PageQueryDto } from '../common/page-query.dto';
import { AppException, ErrorCode, FieldError } from '../common/problem';
import { VmAccess } from '../vms/vm-access';
import { CreateScheduleDto, UpdateScheduleDto } from './dto/schedule.dto';
import { nextSlotAfter, scheduleTimingErrors } from './schedule-cron';
import { Schedule } from './schedule.entity';
import { ScheduleChanges, ScheduleRepository } from './schedule.repository';

/** A VM has at most this many schedules: each tick looks at all of them. */
export const MAX_SCHEDULES_PER_VM = 16;

/** A PATCH without If-Match that loses to a concurrent change (a run's claim) is tried again this often. */
const UPDATE_ATTEMPTS = 3;

function etagOf(schedule: Schedule): string {
  return `"${schedule.version}"`;
}

/** The rules of schedules: the VM's visibility decides theirs; cron and zone are checked before anything is written. */
@Injectable()
export class SchedulesService {
  constructor(
    private readonly config: AppConfig,
    private readonly schedules: ScheduleRepository,
    private readonly access: VmAccess,
  ) {}

  async list(
    user: AuthUser,
    vmId: string,
    page: PageQueryDto,
  ): Promise<{ items: Schedule[]; nextCursor: string | null }> {
    await this.access.visible(user, vmId);
    return this.schedules.pageOfVm(vmId, page);
  }

  async get(user: AuthUser, vmId: string, id: string): Promise<Schedule> {
    await this.access.visible(user, vmId);
    return this.existing(vmId, id);
  }

  /** Starts at its first slot from now; runs as the VM's owner (quota and copies are theirs). */
  async create(user: AuthUser, vmId: string, dto: CreateScheduleDto): Promise<Schedule> {
    const vm = await this.access.visible(user, vmId);
    const timeZone = dto.timeZone ?? 'UTC';
    const now = new Date();
    this.assertTiming(dto.cron, timeZone, now);
    if ((await this.schedules.countOfVm(vmId)) >= MAX_SCHEDULES_PER_VM) {
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.CONFLICT,
        `A VM has at most ${MAX_SCHEDULES_PER_VM} schedules`,
      );
    }
    return this.schedules.create(
      Object.assign(new Schedule(), {
        vmId,
        ownerId: vm.ownerId,
        kind: dto.kind,
        cron: dto.cron,
        timeZone,
        keepLast: dto.keepLast ?? null,
        keepDays: dto.keepDays ?? null,
        enabled: dto.enabled ?? true,
        nextRunAt: nextSlotAfter(dto.cron, timeZone, now),
        lastRunAt: null,
        lastOperationId: null,
        lastError: null,
        version: 1,
      }),
    );
  }

  /**
   * With If-Match, only over that version (412 otherwise; every run bumps it too). A new cron or
   * zone, or enabling it again, moves the next slot to the first from now.
   */
  async update(
    user: AuthUser,
    vmId: string,
    id: string,
    dto: UpdateScheduleDto,
    ifMatch: string | undefined,
  ): Promise<Schedule> {
    await this.access.visible(user, vmId);
    for (let attempt = 1; ; attempt++) {
      const current = await this.existing(vmId, id);
      if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== etagOf(current)) throw this.changed(current);
      const updated = await this.schedules.updateAtVersion(id, current.version, this.changesOf(current, dto));
      if (updated) return updated;
      if (ifMatch !== undefined && ifMatch !== '*') throw this.changed(await this.existing(vmId, id));
      if (attempt === UPDATE_ATTEMPTS) throw this.changed(await this.existing(vmId, id));
    }
  }

  /** Its copies stay (they no longer belong to a schedule, so no retention touches them). */
  async remove(user: AuthUser, vmId: string, id: string): Promise<void> {
    await this.access.visible(user, vmId);
    if (!(await this.schedules.delete(vmId, id))) throw AppException.notFound('Schedule');
  }

  private changesOf(current: Schedule, dto: UpdateScheduleDto): ScheduleChanges {
    const cron = dto.cron ?? current.cron;
    const timeZone = dto.timeZone ?? current.timeZone;
    const now = new Date();
    const retimed = cron !== current.cron || timeZone !== current.timeZone;
    if (retimed) this.assertTiming(cron, timeZone, now);
    const reenabled = dto.enabled === true && !current.enabled;
    return {
      cron,
      timeZone,
      keepLast: dto.keepLast === undefined ? current.keepLast : dto.keepLast,
      keepDays: dto.keepDays === undefined ? current.keepDays : dto.keepDays,
      enabled: dto.enabled ?? current.enabled,
      ...(retimed || reenabled ? { nextRunAt: nextSlotAfter(cron, timeZone, now) } : {}),
    };
  }

  private assertTiming(cron: string, timeZone: string, now: Date): void {
    const errors: FieldError[] = scheduleTimingErrors(
      cron,
      timeZone,
      this.config.copies.scheduleMinIntervalSeconds,
      now,
    );
    if (errors.length) {
      throw new AppException(
        HttpStatus.BAD_REQUEST,
        ErrorCode.VALIDATION_FAILED,
        `Validation failed for ${errors.map((e) => e.field).join(', ')}`,
        { errors },
      );
    }
  }

  private async existing(vmId: string, id: string): Promise<Schedule> {
    const schedule = await this.schedules.findOfVm(vmId, id);
    if (!schedule) throw AppException.notFound('Schedule');
    return schedule;
  }

  private changed(schedule: Schedule): AppException {
    return new AppException(
      HttpStatus.PRECONDITION_FAILED,
      ErrorCode.PRECONDITION_FAILED,
      `The schedule changed (now ${etagOf(schedule)}); re-read it and retry`,
    );
  }
}
