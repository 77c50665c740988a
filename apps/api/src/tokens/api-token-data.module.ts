import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UserAccessModule } from '../users/user-access.module';
import { ApiTokenCache } from './api-token-cache';
import { ApiToken } from './api-token.entity';
import { ApiTokenRepository } from './api-token.repository';

/**
 * The `api_tokens` table's owner and the auth guard's cache of it, apart from TokensModule: the
 * auth strategies need the cache, and UsersModule revokes a disabled user's tokens in its own
 * transaction, without importing the tokens routes.
 */
@Module({
  imports: [TypeOrmModule.forFeature([ApiToken]), UserAccessModule],
  providers: [ApiTokenRepository, ApiTokenCache],
  exports: [ApiTokenRepository, ApiTokenCache],
})
export class ApiTokenDataModule {}
