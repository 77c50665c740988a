import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminBootstrapService } from './admin-bootstrap.service';
import { LoginLockout } from './login-lockout';
import { PasswordHasher } from './password-hasher';
import { UserAccessCache } from './user-access-cache';
import { UserAccessWatch } from './user-access-watch';
import { User } from './user.entity';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

@Module({
  imports: [TypeOrmModule.forFeature([User])],
  controllers: [UsersController],
  providers: [UsersService, PasswordHasher, AdminBootstrapService, UserAccessCache, UserAccessWatch, LoginLockout],
  exports: [UsersService, PasswordHasher, UserAccessCache, UserAccessWatch, LoginLockout, TypeOrmModule],
})
export class UsersModule {}
