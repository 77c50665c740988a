import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { RefreshToken } from './refresh-token.entity';
import { RefreshTokenRepository } from './refresh-token.repository';

/**
 * The `refresh_tokens` table's owner, apart from AuthModule so that UsersModule (which AuthModule
 * imports) can revoke a user's tokens without an import cycle.
 */
@Module({
  imports: [TypeOrmModule.forFeature([RefreshToken])],
  providers: [RefreshTokenRepository],
  exports: [RefreshTokenRepository],
})
export class RefreshTokenDataModule {}
