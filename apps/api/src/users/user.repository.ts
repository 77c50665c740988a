import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import type { UserRole } from './user-role';
import { User, UserStatus } from './user.entity';

/** What the JWT guard checks about a token's user on every request. */
export interface UserAccess {
  id: string;
  username: string;
  role: UserRole;
  status: UserStatus;
  tokenVersion: number;
}

export type NewUser = Pick<User, 'username' | 'passwordHash' | 'role' | 'status'>;
export type UserChanges = Partial<Pick<User, 'role' | 'status' | 'passwordHash' | 'tokenVersion'>>;

/** The one owner of the `users` table's SQL. */
@Injectable()
export class UserRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** With `lock`, the row stays locked until `tx` ends. */
  find(id: string, tx?: Tx, options: { lock?: boolean } = {}): Promise<User | null> {
    return this.manager(tx).findOne(User, {
      where: { id },
      ...(options.lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
  }

  /** The user with their password hash (never read otherwise), to check a sign-in. */
  findWithPasswordHash(username: string): Promise<User | null> {
    return this.manager()
      .createQueryBuilder(User, 'user')
      .addSelect('user.passwordHash')
      .where('user.username = :username', { username })
      .getOne();
  }

  /** Inserts the user; a taken username fails with a unique violation (see isUniqueViolation). */
  async add(fields: NewUser, tx?: Tx): Promise<User> {
    const user = this.manager(tx).create(User, fields);
    await this.insert(tx, user);
    return user;
  }

  page(page: PageQueryDto): Promise<{ items: User[]; nextCursor: string | null }> {
    return paginate(this.manager().createQueryBuilder(User, 'user'), page);
  }

  hasAdmin(): Promise<boolean> {
    return this.manager().existsBy(User, { role: 'admin' });
  }

  /** Locks every active admin's row until `tx` ends, in one order, so concurrent demotions queue. */
  async lockActiveAdmins(tx: Tx): Promise<void> {
    await this.query(tx, `SELECT id FROM users WHERE role = 'admin' AND status = 'active' ORDER BY id FOR UPDATE`);
  }

  countActiveAdmins(tx: Tx): Promise<number> {
    return this.manager(tx).count(User, { where: { role: 'admin', status: 'active' } });
  }

  /** Applies the changes (updated_at follows) and returns the row as it now is. */
  async update(tx: Tx, id: string, changes: UserChanges): Promise<User> {
    if (Object.keys(changes).length > 0) await this.manager(tx).update(User, { id }, changes);
    return this.manager(tx).findOneByOrFail(User, { id });
  }

  /** Revokes every access token the user holds (their `ver` no longer matches). */
  async bumpTokenVersion(id: string): Promise<void> {
    await this.manager().increment(User, { id }, 'tokenVersion', 1);
  }

  async delete(tx: Tx, id: string): Promise<void> {
    await this.manager(tx).delete(User, { id });
  }

  /**
   * The JWT guard's check, on every request the access cache cannot answer: a prepared statement
   * straight on the pool (see preparedQuery), on the read benchmark's path.
   */
  async access(id: string): Promise<UserAccess | null> {
    const [row] = await this.prepared<{
      id: string;
      username: string;
      role: UserRole;
      status: UserStatus;
      token_version: number;
    }>('user_access', 'SELECT id, username, role, status, token_version FROM users WHERE id = $1', [id]);
    return row
      ? { id: row.id, username: row.username, role: row.role, status: row.status, tokenVersion: row.token_version }
      : null;
  }

  /** Tells every replica's listener on `channel` (see UserAccessCache) that the user `id` changed. */
  async notify(channel: string, id: string): Promise<void> {
    await this.query(undefined, 'SELECT pg_notify($1, $2)', [channel, id]);
  }
}
