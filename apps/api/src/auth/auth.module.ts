import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { ThrottlerModule } from '@nestjs/throttler';
import { AppConfig } from '../config/app-config';
import { LimitsModule, RATE_LIMIT_STORAGE } from '../limits/limits.module';
import { SecondFactorModule } from '../second-factor/second-factor.module';
import { ApiTokenDataModule } from '../tokens/api-token-data.module';
import { UsersModule } from '../users/users.module';
import { AccountController } from './account.controller';
import { AccountService } from './account.service';
import { ApiTokenStrategy } from './api-token.strategy';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { AuthenticationGuard } from './authentication.guard';
import { JwtStrategy } from './jwt.strategy';
import { RateLimitGuard, rateLimitOptions } from './rate-limit';
import { RefreshTokenDataModule } from './refresh-token-data.module';
import { RolesGuard } from './roles.guard';
import { ScopeGuard } from './scope.guard';
import { SessionRevocations } from './session-revocations';
import { TokenService } from './token.service';

/**
 * Authentication for the whole api. The global guards run in this order: who is calling
 * (passport: a session's JWT or an API token), may their token (scopes), may they (roles),
 * how often (rate limits).
 */
@Module({
  imports: [
    UsersModule,
    SecondFactorModule,
    RefreshTokenDataModule,
    ApiTokenDataModule,
    JwtModule.registerAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        secret: config.jwtSecret,
        signOptions: { algorithm: 'HS256' },
        verifyOptions: { algorithms: ['HS256'] },
      }),
    }),
    ThrottlerModule.forRootAsync({
      imports: [LimitsModule],
      inject: [AppConfig, RATE_LIMIT_STORAGE],
      useFactory: rateLimitOptions,
    }),
  ],
  controllers: [AuthController, AccountController],
  providers: [
    AuthService,
    AccountService,
    TokenService,
    SessionRevocations,
    JwtStrategy,
    ApiTokenStrategy,
    { provide: APP_GUARD, useClass: AuthenticationGuard },
    { provide: APP_GUARD, useClass: ScopeGuard },
    { provide: APP_GUARD, useClass: RolesGuard },
    { provide: APP_GUARD, useClass: RateLimitGuard },
  ],
  exports: [TokenService, SessionRevocations],
})
export class AuthModule {}
