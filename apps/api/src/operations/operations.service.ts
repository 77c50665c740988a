import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, QueryFailedError, Repository } from 'typeorm';
import { AuthUser } from '../auth/decorators';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../common/pagination';
import { AppException, ErrorCode } from '../common/problem';
import { Operation } from './operation.entity';
import { OperationRunner } from './operation-runner';

@Injectable()
export class OperationsService {
  constructor(
    @InjectRepository(Operation) private readonly operations: Repository<Operation>,
    private readonly runner: OperationRunner,
  ) {}

  /**
   * Inserts a pending operation in the caller's transaction. The partial unique
   * index refuses a second active operation on the same VM: 409 OPERATION_IN_PROGRESS.
   */
  async create(manager: EntityManager, op: { kind: string; ownerId: string; vmId: string | null; params?: Record<string, unknown> }): Promise<Operation> {
    try {
      // A savepoint, so a refusal leaves the surrounding transaction usable.
      return await manager.transaction((inner) => inner.save(inner.create(Operation, { ...op, params: op.params ?? {}, status: 'pending' })));
    } catch (error) {
      if (error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '23505') {
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.OPERATION_IN_PROGRESS, 'Another operation on this VM is still in progress');
      }
      throw error;
    }
  }

  /** Owner or admin; anyone else gets 404, as if it did not exist. */
  async get(user: AuthUser, id: string): Promise<Operation> {
    const op = await this.operations.findOneBy({ id });
    if (!op || (user.role !== 'admin' && op.ownerId !== user.id)) throw AppException.notFound('Operation');
    return op;
  }

  list(user: AuthUser, page: PageQueryDto): Promise<{ items: Operation[]; nextCursor: string | null }> {
    const query = this.operations.createQueryBuilder('op');
    if (user.role !== 'admin') query.where('op.ownerId = :ownerId', { ownerId: user.id });
    return paginate(query, page);
  }

  async wait(user: AuthUser, id: string, timeoutSeconds: number): Promise<Operation> {
    const op = await this.get(user, id);
    if (op.status === 'pending' || op.status === 'running') await this.runner.waitForEnd(id, timeoutSeconds * 1000);
    return this.get(user, id);
  }
}
