import { HttpStatus } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import type { AuditRepository } from '../audit/audit.repository';
import { AuditService } from '../audit/audit.service';
import type { RefreshTokenRepository } from '../auth/refresh-token.repository';
import type { AppConfig } from '../config/app-config';
import { ErrorCode } from '../common/problem';
import type { Transactions, Tx } from '../database/transaction';
import type { VmRepository } from '../vms/vm.repository';
import type { ApiTokenRepository } from '../tokens/api-token.repository';
import type { LoginFailureRepository } from './login-failure.repository';
import { LoginLockout } from './login-lockout';
import type { PasswordHasher } from './password-hasher';
import type { UserAccessCache } from './user-access-cache';
import { User } from './user.entity';
import type { NewUser, UserChanges, UserRepository } from './user.repository';
import { UsersService } from './users.service';

/** PostgreSQL refusing a duplicate key, as the pg driver reports it through TypeORM. */
function uniqueViolation(): QueryFailedError {
  return new QueryFailedError(
    'INSERT INTO users ...',
    [],
    Object.assign(new Error('duplicate key'), { code: '23505' }),
  );
}

class FakeUserRepository implements Pick<
  UserRepository,
  'find' | 'add' | 'lockActiveAdmins' | 'countActiveAdmins' | 'update' | 'delete'
> {
  readonly rows = new Map<string, User>();
  private nextId = 1;

  seed(fields: Partial<User>): User {
    const user = Object.assign(new User(), {
      id: `user-${this.nextId++}`,
      passwordHash: 'hash:old',
      role: 'user',
      status: 'active',
      tokenVersion: 0,
      createdAt: new Date(),
      updatedAt: new Date(),
      ...fields,
    });
    this.rows.set(user.id, user);
    return user;
  }

  async find(id: string): Promise<User | null> {
    const user = this.rows.get(id);
    return user ? { ...user } : null;
  }

  async add(fields: NewUser): Promise<User> {
    if ([...this.rows.values()].some((u) => u.username === fields.username)) throw uniqueViolation();
    return this.seed(fields);
  }

  async lockActiveAdmins(): Promise<void> {}

  async countActiveAdmins(): Promise<number> {
    return [...this.rows.values()].filter((u) => u.role === 'admin' && u.status === 'active').length;
  }

  async update(_tx: Tx, id: string, changes: UserChanges): Promise<User> {
    Object.assign(this.rows.get(id)!, changes);
    return { ...this.rows.get(id)! };
  }

  async delete(_tx: Tx, id: string): Promise<void> {
    this.rows.delete(id);
  }
}

/** Live refresh tokens per user; revokeAllOf forgets them. */
class FakeRefreshTokens implements Pick<RefreshTokenRepository, 'revokeAllOf'> {
  readonly live = new Map<string, number>();

  async revokeAllOf(userId: string): Promise<void> {
    this.live.delete(userId);
  }
}

class FakeVms implements Pick<VmRepository, 'countOwnedBy'> {
  readonly owned = new Map<string, number>();

  async countOwnedBy(ownerId: string): Promise<number> {
    return this.owned.get(ownerId) ?? 0;
  }
}

/** Live API tokens per user; revokeAllOf forgets them. */
class FakeApiTokens implements Pick<ApiTokenRepository, 'revokeAllOf'> {
  readonly live = new Map<string, number>();

  async revokeAllOf(userId: string): Promise<number> {
    const count = this.live.get(userId) ?? 0;
    this.live.delete(userId);
    return count;
  }
}

/** Locked names per username (any client); clearAll lifts them. */
class FakeLoginFailures implements Pick<LoginFailureRepository, 'clearAll'> {
  readonly locked = new Set<string>();

  async clearAll(username: string): Promise<void> {
    this.locked.delete(username);
  }
}

describe('UsersService', () => {
  let users: FakeUserRepository;
  let refreshTokens: FakeRefreshTokens;
  let vms: FakeVms;
  let failures: FakeLoginFailures;
  let apiTokens: FakeApiTokens;
  let changed: string[];
  let service: UsersService;

  beforeEach(() => {
    users = new FakeUserRepository();
    refreshTokens = new FakeRefreshTokens();
    vms = new FakeVms();
    failures = new FakeLoginFailures();
    apiTokens = new FakeApiTokens();
    changed = [];
    const transactions = { run: (work: (tx: Tx) => Promise<unknown>) => work({} as Tx) } as Transactions;
    const hasher = { hash: async (password: string) => `hash:${password}` } as PasswordHasher;
    const access = { changed: async (id: string) => void changed.push(id) } as UserAccessCache;
    const lockout = new LoginLockout({} as AppConfig, failures as unknown as LoginFailureRepository);
    service = new UsersService(
      users as unknown as UserRepository,
      refreshTokens as unknown as RefreshTokenRepository,
      vms as unknown as VmRepository,
      transactions,
      hasher,
      new AuditService({} as AuditRepository),
      access,
      lockout,
      apiTokens as unknown as ApiTokenRepository,
    );
    users.seed({ username: 'admin', role: 'admin' });
  });

  describe('create', () => {
    it('stores the name in lower case with a hashed password, as a plain active user by default', async () => {
      const user = await service.create({ username: 'Alice', password: 'long enough password' });
      expect(users.rows.get(user.id)).toMatchObject({
        username: 'alice',
        passwordHash: 'hash:long enough password',
        role: 'user',
        status: 'active',
      });
    });

    it('answers 409 USERNAME_TAKEN for a taken name, whatever its case', async () => {
      await service.create({ username: 'alice', password: 'long enough password' });
      await expect(service.create({ username: 'ALICE', password: 'another password' })).rejects.toMatchObject({
        code: ErrorCode.USERNAME_TAKEN,
        status: HttpStatus.CONFLICT,
      });
      expect(await service.createUnlessTaken({ username: 'Alice', password: 'another password' })).toBeNull();
    });

    it('lets any other database failure through', async () => {
      const failure = new Error('database down');
      jest.spyOn(users, 'add').mockRejectedValue(failure);
      await expect(service.create({ username: 'bob', password: 'long enough password' })).rejects.toBe(failure);
    });
  });

  describe('update', () => {
    it('disabling revokes every access, refresh and API token and drops the cached access once committed', async () => {
      const bob = users.seed({ username: 'bob' });
      refreshTokens.live.set(bob.id, 2);
      apiTokens.live.set(bob.id, 3);
      const after = await service.update(bob.id, { status: 'disabled' });
      expect(after).toMatchObject({ status: 'disabled', tokenVersion: 1 });
      expect(refreshTokens.live.has(bob.id)).toBe(false);
      expect(apiTokens.live.has(bob.id)).toBe(false);
      expect(changed).toEqual([bob.id]);
    });

    it('approving a pending account activates it, revokes its access tokens and lifts every lock on its name', async () => {
      const carol = users.seed({ username: 'carol', status: 'pending' });
      failures.locked.add('carol');
      const after = await service.approve(carol.id);
      expect(after).toMatchObject({ status: 'active', tokenVersion: 1 });
      expect(failures.locked.has('carol')).toBe(false);
      expect(changed).toEqual([carol.id]);
    });

    it('a new password revokes every access and refresh token (API tokens stay)', async () => {
      const bob = users.seed({ username: 'bob' });
      refreshTokens.live.set(bob.id, 1);
      apiTokens.live.set(bob.id, 1);
      const after = await service.update(bob.id, { password: 'a new long password' });
      expect(after.tokenVersion).toBe(1);
      expect(users.rows.get(bob.id)!.passwordHash).toBe('hash:a new long password');
      expect(refreshTokens.live.has(bob.id)).toBe(false);
      expect(apiTokens.live.get(bob.id)).toBe(1);
    });

    it('a role change revokes access tokens but keeps refresh tokens; setting what is already there revokes nothing', async () => {
      const bob = users.seed({ username: 'bob' });
      refreshTokens.live.set(bob.id, 1);
      expect((await service.update(bob.id, { role: 'user', status: 'active' })).tokenVersion).toBe(0);
      expect((await service.update(bob.id, { role: 'admin' })).tokenVersion).toBe(1);
      expect(refreshTokens.live.has(bob.id)).toBe(true);
    });

    it('refuses to demote or disable the last active admin (409 LAST_ADMIN), but not one of two', async () => {
      const [admin] = users.rows.values();
      for (const change of [{ role: 'user' as const }, { status: 'disabled' as const }])
        await expect(service.update(admin.id, change)).rejects.toMatchObject({ code: ErrorCode.LAST_ADMIN });
      users.seed({ username: 'second', role: 'admin' });
      await expect(service.update(admin.id, { role: 'user' })).resolves.toMatchObject({ role: 'user' });
    });

    it('answers 404 for an unknown user', async () => {
      await expect(service.update('nobody', { status: 'active' })).rejects.toHaveProperty(
        'status',
        HttpStatus.NOT_FOUND,
      );
    });
  });

  describe('remove', () => {
    it('refuses to delete a user who still owns VMs (409 CONFLICT), and deletes them once they own none', async () => {
      const bob = users.seed({ username: 'bob' });
      vms.owned.set(bob.id, 2);
      await expect(service.remove(bob.id)).rejects.toMatchObject({
        code: ErrorCode.CONFLICT,
        detail: 'The user still owns 2 VM(s); delete them first',
      });
      expect(users.rows.has(bob.id)).toBe(true);
      vms.owned.delete(bob.id);
      await service.remove(bob.id);
      expect(users.rows.has(bob.id)).toBe(false);
      expect(changed).toEqual([bob.id]);
    });

    it('refuses to delete the last active admin', async () => {
      const [admin] = users.rows.values();
      await expect(service.remove(admin.id)).rejects.toMatchObject({ code: ErrorCode.LAST_ADMIN });
      expect(users.rows.has(admin.id)).toBe(true);
    });
  });
});
