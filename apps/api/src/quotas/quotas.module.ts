import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UsersModule } from '../users/users.module';
import { QuotaLedger } from './quota-ledger';
import { Quota } from './quota.entity';
import { QuotaRepository } from './quota.repository';
import { QuotasController } from './quotas.controller';
import { QuotasService } from './quotas.service';

@Module({
  imports: [TypeOrmModule.forFeature([Quota]), UsersModule],
  controllers: [QuotasController],
  providers: [QuotaRepository, QuotaLedger, QuotasService],
  exports: [QuotaLedger, QuotaRepository],
})
export class QuotasModule {}
