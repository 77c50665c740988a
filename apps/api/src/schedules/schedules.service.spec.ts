import { AuthUser } from '../auth/decorators';
import { AppConfig } from '../config/app-config';
import { FakeVmRepository, vmRow } from '../vms/testing/fake-vm-repository';
import { VmAccess } from '../vms/vm-access';
import { MAX_SCHEDULES_PER_VM, SchedulesService } from './schedules.service';
import { FakeScheduleRepository } from './testing/fake-schedule-repository';

const alice: AuthUser = { id: 'alice', username: 'alice', role: 'user' };
const bob: AuthUser = { id: 'bob', username: 'bob', role: 'user' };
const admin: AuthUser = { id: 'root', username: 'root', role: 'admin' };

function world(minIntervalSeconds = 60) {
  const vm = vmRow({ ownerId: 'alice' });
  const repository = new FakeScheduleRepository();
  const config = { copies: { scheduleMinIntervalSeconds: minIntervalSeconds, scheduleTickSeconds: 15 } } as AppConfig;
  const service = new SchedulesService(
    config,
    repository.asRepository,
    new VmAccess(new FakeVmRepository(vm).asRepository),
  );
  return { vm, repository, service };
}

describe('SchedulesService', () => {
  it('creates a schedule at its first slot from now, owned by the VM owner even when an admin makes it', async () => {
    const { vm, service } = world();
    const before = Date.now();
    const schedule = await service.create(admin, vm.id, { kind: 'snapshot', cron: '*/5 * * * *', keepLast: 3 });
    expect(schedule).toMatchObject({ ownerId: 'alice', timeZone: 'UTC', enabled: true, keepLast: 3, keepDays: null });
    expect(schedule.nextRunAt.getTime()).toBeGreaterThan(before);
    expect(schedule.nextRunAt.getTime() % 300_000).toBe(0);
  });

  it('refuses a bad expression, zone or one firing too often with 400 VALIDATION_FAILED on the field', async () => {
    const { vm, service, repository } = world(300);
    for (const [dto, field] of [
      [{ cron: '61 * * * *' }, 'cron'],
      [{ cron: '*/2 * * * *' }, 'cron'],
      [{ cron: '0 * * * *', timeZone: 'Mars/Olympus' }, 'timeZone'],
    ] as const) {
      await expect(service.create(alice, vm.id, { kind: 'snapshot', ...dto })).rejects.toMatchObject({
        status: 400,
        code: 'VALIDATION_FAILED',
        extra: { errors: [expect.objectContaining({ field })] },
      });
    }
    expect(repository.rows.size).toBe(0);
  });

  it("someone else's VM is 404 for every route", async () => {
    const { vm, service } = world();
    const schedule = await service.create(alice, vm.id, { kind: 'snapshot', cron: '0 3 * * *' });
    await expect(service.create(bob, vm.id, { kind: 'snapshot', cron: '0 3 * * *' })).rejects.toMatchObject({
      status: 404,
    });
    await expect(service.list(bob, vm.id, { limit: 50 })).rejects.toMatchObject({ status: 404 });
    await expect(service.get(bob, vm.id, schedule.id)).rejects.toMatchObject({ status: 404 });
    await expect(service.update(bob, vm.id, schedule.id, { enabled: false }, undefined)).rejects.toMatchObject({
      status: 404,
    });
    await expect(service.remove(bob, vm.id, schedule.id)).rejects.toMatchObject({ status: 404 });
  });

  it('a VM holds at most a bounded number of schedules', async () => {
    const { vm, service } = world();
    for (let i = 0; i < MAX_SCHEDULES_PER_VM; i++)
      await service.create(alice, vm.id, { kind: 'snapshot', cron: `${i} 3 * * *` });
    await expect(service.create(alice, vm.id, { kind: 'snapshot', cron: '0 4 * * *' })).rejects.toMatchObject({
      status: 409,
    });
  });

  it('updates over the ETag it was given (412 when stale), re-timing the next slot when cron or zone change', async () => {
    const { vm, service } = world();
    const schedule = await service.create(alice, vm.id, { kind: 'snapshot', cron: '0 3 * * *', keepDays: 7 });
    const updated = await service.update(
      alice,
      vm.id,
      schedule.id,
      { cron: '30 4 * * *', timeZone: 'Asia/Tokyo', keepDays: null },
      '"1"',
    );
    expect(updated).toMatchObject({ version: 2, cron: '30 4 * * *', timeZone: 'Asia/Tokyo', keepDays: null });
    // 04:30 in Tokyo is 19:30 UTC.
    expect(updated.nextRunAt.toISOString()).toMatch(/T19:30:00.000Z$/);
    await expect(service.update(alice, vm.id, schedule.id, { enabled: false }, '"1"')).rejects.toMatchObject({
      status: 412,
      code: 'PRECONDITION_FAILED',
    });
    await expect(service.update(alice, vm.id, schedule.id, { cron: '* * * * * *' }, undefined)).rejects.toMatchObject({
      status: 400,
    });
    expect(await service.update(alice, vm.id, schedule.id, { enabled: false }, undefined)).toMatchObject({
      version: 3,
      enabled: false,
    });
  });

  it('enabling again moves the next slot to the first from now: missed slots are not made up', async () => {
    const { vm, service, repository } = world();
    const schedule = await service.create(alice, vm.id, { kind: 'snapshot', cron: '0 3 * * *', enabled: false });
    repository.rows.get(schedule.id)!.nextRunAt = new Date('2020-01-01T03:00:00.000Z');
    const updated = await service.update(alice, vm.id, schedule.id, { enabled: true }, undefined);
    expect(updated.nextRunAt.getTime()).toBeGreaterThan(Date.now());
  });

  it('delete answers 404 the second time', async () => {
    const { vm, service } = world();
    const schedule = await service.create(alice, vm.id, { kind: 'backup', cron: '0 3 * * *' });
    await service.remove(alice, vm.id, schedule.id);
    await expect(service.remove(alice, vm.id, schedule.id)).rejects.toMatchObject({ status: 404 });
  });
});
