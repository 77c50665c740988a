import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { Transactions } from '../database/transaction';
import { UsersService } from '../users/users.service';
import { QuotaDto, SetQuotaDto } from './dto/quota.dto';
import { QuotaLedger } from './quota-ledger';
import { QuotaRepository } from './quota.repository';

@Injectable()
export class QuotasService {
  constructor(
    private readonly quotas: QuotaRepository,
    private readonly transactions: Transactions,
    private readonly ledger: QuotaLedger,
    private readonly users: UsersService,
    private readonly audit: AuditService,
  ) {}

  async get(userId: string): Promise<QuotaDto> {
    return {
      userId,
      limits: await this.ledger.limits(userId),
      usage: await this.ledger.usage(userId),
    };
  }

  async set(userId: string, dto: SetQuotaDto): Promise<QuotaDto> {
    await this.users.get(userId);
    const before = await this.get(userId);
    await this.transactions.run((tx) => this.quotas.setOverrides(tx, userId, dto));
    const after = await this.get(userId);
    this.audit.annotate({ before: { ...before.limits }, after: { ...after.limits } });
    return after;
  }
}
