import { HttpStatus, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { RefreshTokenRepository } from '../auth/refresh-token.repository';
import { PageQueryDto } from '../common/page-query.dto';
import { AppException, ErrorCode } from '../common/problem';
import { isUniqueViolation } from '../database/pg-errors';
import { Transactions, Tx } from '../database/transaction';
import { ApiTokenRepository } from '../tokens/api-token.repository';
import { VmRepository } from '../vms/vm.repository';
import { CreateUserDto } from './dto/create-user.dto';
import { UpdateUserDto } from './dto/update-user.dto';
import { LoginLockout } from './login-lockout';
import { PasswordHasher } from './password-hasher';
import { UserAccessCache } from './user-access-cache';
import { User, UserStatus } from './user.entity';
import { UserChanges, UserRepository } from './user.repository';

@Injectable()
export class UsersService {
  constructor(
    private readonly users: UserRepository,
    private readonly refreshTokens: RefreshTokenRepository,
    private readonly vms: VmRepository,
    private readonly transactions: Transactions,
    private readonly hasher: PasswordHasher,
    private readonly audit: AuditService,
    private readonly access: UserAccessCache,
    private readonly lockout: LoginLockout,
    private readonly apiTokens: ApiTokenRepository,
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
      return await this.users.add({
        username: dto.username.toLowerCase(),
        passwordHash,
        role: dto.role ?? 'user',
        status: dto.status ?? defaultStatus,
      });
    } catch (error) {
      if (isUniqueViolation(error)) return null;
      throw error;
    }
  }

  async get(id: string): Promise<User> {
    const user = await this.users.find(id);
    if (!user) throw AppException.notFound('User');
    return user;
  }

  list(page: PageQueryDto): Promise<{ items: User[]; nextCursor: string | null }> {
    return this.users.page(page);
  }

  /**
   * Role, status and password changes bump the token version, so the user's
   * outstanding access tokens stop working on their very next request. Disabling (or sending
   * back to pending) also revokes the user's API tokens for good.
   */
  update(id: string, dto: UpdateUserDto): Promise<User> {
    return this.withAdminGuard(id, async (tx, user) => {
      const demotes = dto.role !== undefined && dto.role !== 'admin';
      const deactivates = dto.status !== undefined && dto.status !== 'active';
      await this.assertNotLastAdmin(tx, user, demotes || deactivates);
      const changes: UserChanges = {};
      if (dto.role !== undefined) changes.role = dto.role;
      if (dto.status !== undefined) changes.status = dto.status;
      if (dto.password !== undefined) changes.passwordHash = await this.hasher.hash(dto.password);
      const revokes =
        (dto.role !== undefined && dto.role !== user.role) ||
        (dto.status !== undefined && dto.status !== user.status) ||
        dto.password !== undefined;
      if (revokes) changes.tokenVersion = user.tokenVersion + 1;
      if (dto.status === 'active') await this.lockout.clearAccount(user.username, tx);
      const after = await this.users.update(tx, id, changes);
      if (dto.password !== undefined || deactivates) await this.refreshTokens.revokeAllOf(id, tx);
      if (deactivates && user.status === 'active') await this.apiTokens.revokeAllOf(id, tx);
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
    await this.withAdminGuard(id, async (tx, user) => {
      await this.assertNotLastAdmin(tx, user, true);
      const count = await this.vms.countOwnedBy(id, tx);
      if (count > 0)
        throw new AppException(
          HttpStatus.CONFLICT,
          ErrorCode.CONFLICT,
          `The user still owns ${count} VM(s); delete them first`,
        );
      this.audit.annotate({ before: { username: user.username, role: user.role, status: user.status } });
      await this.users.delete(tx, id);
    });
  }

  /**
   * Runs `work` in one transaction holding row locks on every active admin
   * (and the target), so two concurrent demotions cannot both pass the check.
   * Once it has committed, the JWT guard's cached copy of the user is dropped
   * (on every replica), so the change applies to the user's very next request.
   */
  private async withAdminGuard<T>(id: string, work: (tx: Tx, user: User) => Promise<T>): Promise<T> {
    const result = await this.transactions.run(async (tx) => {
      await this.users.lockActiveAdmins(tx);
      const user = await this.users.find(id, tx, { lock: true });
      if (!user) throw AppException.notFound('User');
      return work(tx, user);
    });
    await this.access.changed(id);
    return result;
  }

  private async assertNotLastAdmin(tx: Tx, user: User, removesAdmin: boolean): Promise<void> {
    if (!removesAdmin || user.role !== 'admin' || user.status !== 'active') return;
    const activeAdmins = await this.users.countActiveAdmins(tx);
    if (activeAdmins <= 1) {
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.LAST_ADMIN,
        'The last active admin cannot be demoted, disabled or deleted',
      );
    }
  }
}
