import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { ThrottlerModule } from '@nestjs/throttler';
import { AppConfig } from '../config/app-config';
import { UsersModule } from '../users/users.module';
import { AccountController } from './account.controller';
import { AccountService } from './account.service';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { CredentialChecks } from './credential-checks';
import { JwtAuthGuard } from './jwt-auth.guard';
import { RateLimitGuard, rateLimitOptions } from './rate-limit';
import { RefreshTokenDataModule } from './refresh-token-data.module';
import { RolesGuard } from './roles.guard';
import { TokenService } from './token.service';

/**
 * Authentication for the whole api. The global guards run in this order:
 * who is calling (JWT), may they (roles), how often (rate limits).
 */
@Module({
  imports: [
    UsersModule,
    RefreshTokenDataModule,
    JwtModule.registerAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        secret: config.jwtSecret,
        signOptions: { algorithm: 'HS256' },
        verifyOptions: { algorithms: ['HS256'] },
      }),
    }),
    ThrottlerModule.forRootAsync({ inject: [AppConfig], useFactory: rateLimitOptions }),
  ],
  controllers: [AuthController, AccountController],
  providers: [
    AuthService,
    AccountService,
    CredentialChecks,
    TokenService,
    { provide: APP_GUARD, useClass: JwtAuthGuard },
    { provide: APP_GUARD, useClass: RolesGuard },
    { provide: APP_GUARD, useClass: RateLimitGuard },
  ],
})
export class AuthModule {}
