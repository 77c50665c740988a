import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UserAccessCache } from './user-access-cache';
import { UserAccessWatch } from './user-access-watch';
import { User } from './user.entity';
import { UserRepository } from './user.repository';

/**
 * The `users` table's owner and the access checks built on it (the JWT guard's cache, the watch on
 * long-lived connections), apart from UsersModule: event streams need the watch, and UsersModule
 * reaches the events module through VmDataModule.
 */
@Module({
  imports: [TypeOrmModule.forFeature([User])],
  providers: [UserRepository, UserAccessCache, UserAccessWatch],
  exports: [UserRepository, UserAccessCache, UserAccessWatch],
})
export class UserAccessModule {}
