import { Module } from '@nestjs/common';
import { RefreshTokenDataModule } from '../auth/refresh-token-data.module';
import { ApiTokenDataModule } from '../tokens/api-token-data.module';
import { VmDataModule } from '../vms/vm-data.module';
import { AdminBootstrapService } from './admin-bootstrap.service';
import { CredentialChecks } from './credential-checks';
import { LoginFailureRepository } from './login-failure.repository';
import { LoginLockout } from './login-lockout';
import { PasswordHasher } from './password-hasher';
import { UserAccessModule } from './user-access.module';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

@Module({
  imports: [UserAccessModule, RefreshTokenDataModule, VmDataModule, ApiTokenDataModule],
  controllers: [UsersController],
  providers: [
    UsersService,
    PasswordHasher,
    AdminBootstrapService,
    LoginLockout,
    LoginFailureRepository,
    CredentialChecks,
  ],
  exports: [UsersService, PasswordHasher, LoginLockout, CredentialChecks, UserAccessModule],
})
export class UsersModule {}
