import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { RefreshTokenDataModule } from '../auth/refresh-token-data.module';
import { UsersModule } from '../users/users.module';
import { OidcAccounts } from './oidc-accounts';
import { OidcClient } from './oidc-client';
import { OidcIdentityRepository } from './oidc-identity.repository';
import { OidcLoginStateRepository } from './oidc-login-state.repository';
import { OidcController } from './oidc.controller';
import { OidcService } from './oidc.service';
import { OidcCallbackGuard, OidcStrategy } from './oidc.strategy';

/** Single sign-on through an OpenID provider (OIDC_ISSUER): /api/v1/auth/oidc. Owns oidc_identities and oidc_login_states. */
@Module({
  // RefreshTokenDataModule: the callback's browser-session cookie (auth/refresh-cookie.ts).
  imports: [AuthModule, UsersModule, RefreshTokenDataModule],
  controllers: [OidcController],
  providers: [
    OidcService,
    OidcClient,
    OidcAccounts,
    OidcStrategy,
    OidcCallbackGuard,
    OidcIdentityRepository,
    OidcLoginStateRepository,
  ],
})
export class OidcModule {}
