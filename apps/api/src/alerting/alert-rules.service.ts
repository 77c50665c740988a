import { HttpStatus, Injectable } from '@nestjs/common';
import { PageQueryDto } from '../common/page-query.dto';
import { AppException, ErrorCode } from '../common/problem';
import { isUniqueViolation } from '../database/pg-errors';
import { AlertRule } from './alert-rule.entity';
import { AlertRuleRepository } from './alert-rule.repository';
import { CreateAlertRuleDto, UpdateAlertRuleDto } from './dto/alert-rule.dto';

/** The DTO's given fields only: class-transformer leaves absent optional ones as explicit undefined. */
function given<T extends object>(dto: T): Partial<T> {
  return Object.fromEntries(Object.entries(dto).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** CRUD for alert rules. The evaluator picks up every change at its next round. */
@Injectable()
export class AlertRulesService {
  constructor(private readonly rules: AlertRuleRepository) {}

  list(page: PageQueryDto): Promise<{ items: AlertRule[]; nextCursor: string | null }> {
    return this.rules.page(page);
  }

  async get(id: string): Promise<AlertRule> {
    const rule = await this.rules.find(id);
    if (!rule) throw AppException.notFound('Alert rule');
    return rule;
  }

  create(dto: CreateAlertRuleDto): Promise<AlertRule> {
    const { for: forSeconds, ...fields } = given(dto);
    return this.saveUnique({ severity: 'warning', enabled: true, ...fields, forSeconds: forSeconds ?? 0 });
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
    if (!(await this.rules.delete(id))) throw AppException.notFound('Alert rule');
  }

  private async saveUnique(rule: Partial<AlertRule>): Promise<AlertRule> {
    try {
      return await this.rules.save(rule);
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, 'An alert rule with that name exists');
      throw error;
    }
  }
}
