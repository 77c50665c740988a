import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, Repository } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { AppException, ErrorCode } from '../common/problem';
import { AlertRule } from './alert-rule.entity';
import { CreateAlertRuleDto, UpdateAlertRuleDto } from './dto/alert-rule.dto';

/** The DTO's given fields only: class-transformer leaves absent optional ones as explicit undefined. */
function given<T extends object>(dto: T): Partial<T> {
  return Object.fromEntries(Object.entries(dto).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function isUniqueViolation(error: unknown): boolean {
  return error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '23505';
}

/** CRUD for alert rules. The evaluator picks up every change at its next round. */
@Injectable()
export class AlertRulesService {
  constructor(@InjectRepository(AlertRule) private readonly rules: Repository<AlertRule>) {}

  list(page: PageQueryDto): Promise<{ items: AlertRule[]; nextCursor: string | null }> {
    return paginate(this.rules.createQueryBuilder('rule'), page);
  }

  async get(id: string): Promise<AlertRule> {
    const rule = await this.rules.findOneBy({ id });
    if (!rule) throw AppException.notFound('Alert rule');
    return rule;
  }

  create(dto: CreateAlertRuleDto): Promise<AlertRule> {
    const { for: forSeconds, ...fields } = given(dto);
    return this.saveUnique(
      this.rules.create({ severity: 'warning', enabled: true, ...fields, forSeconds: forSeconds ?? 0 }),
    );
  }

  async update(id: string, dto: UpdateAlertRuleDto): Promise<AlertRule> {
    const rule = await this.get(id);
    const { for: forSeconds, ...fields } = given(dto);
    Object.assign(rule, fields);
    if (forSeconds !== undefined) rule.forSeconds = forSeconds;
    return this.saveUnique(rule);
  }

  /** Its alert instances (open ones included) and silences go with it, without a resolved notification. */
  async remove(id: string): Promise<void> {
    const result = await this.rules.delete({ id });
    if (!result.affected) throw AppException.notFound('Alert rule');
  }

  private async saveUnique(rule: AlertRule): Promise<AlertRule> {
    try {
      return await this.rules.save(rule);
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, 'An alert rule with that name exists');
      throw error;
    }
  }
}
