import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { UsersService } from '../users/users.service';
import { QuotaDto, SetQuotaDto } from './dto/quota.dto';
import { QuotaLedger } from './quota-ledger';
import { Quota } from './quota.entity';

@Injectable()
export class QuotasService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly ledger: QuotaLedger,
    private readonly users: UsersService,
    private readonly audit: AuditService,
  ) {}

  async get(userId: string): Promise<QuotaDto> {
    const manager = this.dataSource.manager;
    return {
      userId,
      limits: await this.ledger.limits(manager, userId),
      usage: await this.ledger.usage(manager, userId),
    };
  }

  async set(userId: string, dto: SetQuotaDto): Promise<QuotaDto> {
    await this.users.get(userId);
    const before = await this.get(userId);
    await this.dataSource.transaction(async (manager) => {
      await manager.query(`INSERT INTO quotas (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING`, [userId]);
      const changes = Object.fromEntries(Object.entries(dto).filter(([, v]) => v !== undefined));
      if (Object.keys(changes).length) await manager.update(Quota, { userId }, changes);
    });
    const after = await this.get(userId);
    this.audit.annotate({ before: { ...before.limits }, after: { ...after.limits } });
    return after;
  }
}
