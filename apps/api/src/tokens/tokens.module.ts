import { Module } from '@nestjs/common';
import { UserAccessModule } from '../users/user-access.module';
import { ApiTokenDataModule } from './api-token-data.module';
import { TokensController } from './tokens.controller';
import { TokensService } from './tokens.service';

/** The /tokens routes; the table and the guard's cache are ApiTokenDataModule's. */
@Module({
  imports: [ApiTokenDataModule, UserAccessModule],
  controllers: [TokensController],
  providers: [TokensService],
})
export class TokensModule {}
