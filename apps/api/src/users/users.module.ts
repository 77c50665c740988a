import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminBootstrapService } from './admin-bootstrap.service';
import { PasswordHasher } from './password-hasher';
import { UserAccessCache } from './user-access-cache';
import { User } from './user.entity';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

@Module({
  imports: [TypeOrmModule.forFeature([User])],
  controllers: [UsersController],
  providers: [UsersService, PasswordHasher, AdminBootstrapService, UserAccessCache],
  exports: [UsersService, PasswordHasher, UserAccessCache, TypeOrmModule],
})
export class UsersModule {}
