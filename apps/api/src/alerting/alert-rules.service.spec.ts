import { HttpException } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { AlertRule } from './alert-rule.entity';
import { AlertRuleRepository } from './alert-rule.repository';
import { AlertRulesService } from './alert-rules.service';
import { CreateAlertRuleDto } from './dto/alert-rule.dto';

/** PostgreSQL's refusal of a duplicate key, as the driver reports it. */
const uniqueViolation = () =>
  new QueryFailedError('INSERT …', [], Object.assign(new Error('duplicate key'), { code: '23505' }));

/** The status and problem code a service call is refused with. */
const refusal = (call: Promise<unknown>) =>
  call.then(
    () => 'accepted',
    (error: HttpException & { code: string }) => `${error.getStatus()} ${error.code}`,
  );

/** In memory, with the table's unique index on lower(name). */
class FakeAlertRuleRepository implements Partial<AlertRuleRepository> {
  readonly rows = new Map<string, AlertRule>();
  private next = 1;

  async find(id: string) {
    const row = this.rows.get(id);
    return row ? Object.assign(new AlertRule(), row) : null;
  }

  async save(rule: Partial<AlertRule>) {
    const id = rule.id ?? `rule-${this.next++}`;
    if (
      [...this.rows.values()].some((other) => other.name.toLowerCase() === rule.name?.toLowerCase() && other.id !== id)
    )
      throw uniqueViolation();
    const saved = Object.assign(new AlertRule(), this.rows.get(id), rule, { id });
    this.rows.set(id, saved);
    return saved;
  }

  async delete(id: string) {
    return this.rows.delete(id);
  }
}

const dto = (name: string): CreateAlertRuleDto =>
  Object.assign(new CreateAlertRuleDto(), {
    name,
    metric: 'host.disk.percent',
    comparator: '>=',
    threshold: 85,
    for: undefined,
    severity: undefined,
  });

describe('AlertRulesService', () => {
  let repository: FakeAlertRuleRepository;
  let service: AlertRulesService;

  beforeEach(() => {
    repository = new FakeAlertRuleRepository();
    service = new AlertRulesService(repository as unknown as AlertRuleRepository);
  });

  it('creates a rule with the defaults for what was not given', async () => {
    expect(await service.create(dto('disk'))).toEqual(
      expect.objectContaining({ name: 'disk', severity: 'warning', enabled: true, forSeconds: 0 }),
    );
  });

  it('answers 409 CONFLICT for a name that is taken, on create and on rename', async () => {
    await service.create(dto('disk'));
    const other = await service.create(dto('memory'));
    expect(await refusal(service.create(dto('Disk')))).toBe('409 CONFLICT');
    expect(await refusal(service.update(other.id, { name: 'disk' }))).toBe('409 CONFLICT');
    expect(repository.rows.get(other.id)?.name).toBe('memory');
  });

  it('answers 404 for a rule that does not exist', async () => {
    expect(await refusal(service.get('nope'))).toBe('404 NOT_FOUND');
    expect(await refusal(service.remove('nope'))).toBe('404 NOT_FOUND');
  });

  it('lets other database errors through', async () => {
    repository.save = () => Promise.reject(new Error('connection lost'));
    await expect(service.create(dto('disk'))).rejects.toThrow('connection lost');
  });
});
