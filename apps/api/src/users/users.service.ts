import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, EntityManager, QueryFailedError, Repository } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { AppException, ErrorCode } from '../common/problem';
import { CreateUserDto } from './dto/create-user.dto';
import { UpdateUserDto } from './dto/update-user.dto';
import { AuditService } from '../audit/audit.service';
import { LoginLockout } from './login-lockout';
import { PasswordHasher } from './password-hasher';
import { UserAccessCache } from './user-access-cache';
import { User, UserStatus } from './user.entity';

const UNIQUE_VIOLATION = '23505';

function isUniqueViolation(error: unknown): boolean {
  return error instanceof QueryFailedError && (error.driverError as { code?: string }).code === UNIQUE_VIOLATION;
}

@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly hasher: PasswordHasher,
    private readonly audit: AuditService,
    private readonly access: UserAccessCache,
    private readonly lockout: LoginLockout,
  ) {}

  async create(dto: CreateUserDto, defaultStatus: UserStatus = 'active'): Promise<User> {
    const user = await this.createUnlessTaken(dto, defaultStatus);
    if (!user) throw new AppException(HttpStatus.CONFLICT, ErrorCode.USERNAME_TAKEN, 'That username is taken');
    return user;
  }

  /** Null when the name is taken; the password is hashed either way, so both take as long. */
  async createUnlessTaken(dto: CreateUserDto, defaultStatus: UserStatus = 'active'): Promise<User | null> {
    const passwordHash = await this.hasher.hash(dto.password);
    try {
      return await this.users.save(
        this.users.create({
          username: dto.username.toLowerCase(),
          passwordHash,
          role: dto.role ?? 'user',
          status: dto.status ?? defaultStatus,
        }),
      );
    } catch (error) {
      if (isUniqueViolation(error)) return null;
      throw error;
    }
  }

  async get(id: string): Promise<User> {
    const user = await this.users.findOneBy({ id });
    if (!user) throw AppException.notFound('User');
    return user;
  }

  list(page: PageQueryDto): Promise<{ items: User[]; nextCursor: string | null }> {
    return paginate(this.users.createQueryBuilder('user'), page);
  }

  /**
   * Role, status and password changes bump the token version, so the user's
   * outstanding access tokens stop working on their very next request.
   */
  update(id: string, dto: UpdateUserDto): Promise<User> {
    return this.withAdminGuard(id, async (manager, user) => {
      const demotes = dto.role !== undefined && dto.role !== 'admin';
      const deactivates = dto.status !== undefined && dto.status !== 'active';
      await this.assertNotLastAdmin(manager, user, demotes || deactivates);
      const changes: Partial<User> = {};
      if (dto.role !== undefined) changes.role = dto.role;
      if (dto.status !== undefined) changes.status = dto.status;
      if (dto.password !== undefined) changes.passwordHash = await this.hasher.hash(dto.password);
      const revokes =
        (dto.role !== undefined && dto.role !== user.role) ||
        (dto.status !== undefined && dto.status !== user.status) ||
        dto.password !== undefined;
      if (revokes) changes.tokenVersion = user.tokenVersion + 1;
      if (dto.status === 'active') await this.lockout.clearAccount(user.username, manager);
      if (Object.keys(changes).length > 0) await manager.update(User, { id }, changes);
      if (dto.password !== undefined || deactivates) await this.revokeRefreshTokens(manager, id);
      const after = await manager.findOneByOrFail(User, { id });
      this.audit.annotate({
        before: { role: user.role, status: user.status },
        after: { role: after.role, status: after.status, passwordChanged: dto.password !== undefined },
      });
      return after;
    });
  }

  approve(id: string): Promise<User> {
    return this.update(id, { status: 'active' });
  }

  async remove(id: string): Promise<void> {
    await this.withAdminGuard(id, async (manager, user) => {
      await this.assertNotLastAdmin(manager, user, true);
      const [{ count }] = await manager.query(`SELECT count(*)::int AS count FROM vms WHERE owner_id = $1`, [id]);
      if (count > 0)
        throw new AppException(
          HttpStatus.CONFLICT,
          ErrorCode.CONFLICT,
          `The user still owns ${count} VM(s); delete them first`,
        );
      this.audit.annotate({ before: { username: user.username, role: user.role, status: user.status } });
      await manager.delete(User, { id });
    });
  }

  /**
   * Runs `work` in one transaction holding row locks on every active admin
   * (and the target), so two concurrent demotions cannot both pass the check.
   * Once it has committed, the JWT guard's cached copy of the user is dropped
   * (on every replica), so the change applies to the user's very next request.
   */
  private async withAdminGuard<T>(id: string, work: (manager: EntityManager, user: User) => Promise<T>): Promise<T> {
    const result = await this.dataSource.transaction(async (manager) => {
      await manager.query(`SELECT id FROM users WHERE role = 'admin' AND status = 'active' ORDER BY id FOR UPDATE`);
      const user = await manager.findOne(User, { where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!user) throw AppException.notFound('User');
      return work(manager, user);
    });
    await this.access.changed(id);
    return result;
  }

  private async assertNotLastAdmin(manager: EntityManager, user: User, removesAdmin: boolean): Promise<void> {
    if (!removesAdmin || user.role !== 'admin' || user.status !== 'active') return;
    const activeAdmins = await manager.count(User, { where: { role: 'admin', status: 'active' } });
    if (activeAdmins <= 1) {
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.LAST_ADMIN,
        'The last active admin cannot be demoted, disabled or deleted',
      );
    }
  }

  private async revokeRefreshTokens(manager: EntityManager, userId: string): Promise<void> {
    await manager.query(`UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, [
      userId,
    ]);
  }
}
