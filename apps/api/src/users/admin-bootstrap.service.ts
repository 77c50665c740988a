import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { AppException } from '../common/problem';
import { UserRepository } from './user.repository';
import { UsersService } from './users.service';

/**
 * Creates the first admin when there is none. It never touches an existing
 * admin, so a restart cannot reset anyone's password (the original did).
 */
@Injectable()
export class AdminBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger('AdminBootstrap');

  constructor(
    private readonly config: AppConfig,
    private readonly usersService: UsersService,
    private readonly users: UserRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (await this.users.hasAdmin()) return;
    const generated = this.config.adminPassword === undefined;
    const password = this.config.adminPassword ?? randomBytes(18).toString('base64url');
    try {
      await this.usersService.create({
        username: this.config.adminUsername,
        password,
        role: 'admin',
        status: 'active',
      });
    } catch (error) {
      // Another replica may have created it a moment ago; anything else is fatal.
      if (error instanceof AppException && (await this.users.hasAdmin())) return;
      throw new Error(`Cannot create the bootstrap admin "${this.config.adminUsername}": ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (generated) {
      this.logger.warn(
        { adminUsername: this.config.adminUsername },
        `Created admin "${this.config.adminUsername}" with generated password: ${password} (shown once; change it with PATCH /api/v1/users/{id})`,
      );
    } else {
      this.logger.log(`Created admin "${this.config.adminUsername}" from ADMIN_USERNAME/ADMIN_PASSWORD`);
    }
  }
}
