import { HttpStatus, Injectable } from '@nestjs/common';
import { AuthUser } from '../auth/decorators';
import { PageQueryDto } from '../common/page-query.dto';
import { AppException, ErrorCode } from '../common/problem';
import { Tx } from '../database/transaction';
import { CreateSshKeyDto } from './dto/ssh-key.dto';
import { SshKey } from './ssh-key.entity';
import { SshKeyRepository } from './ssh-key.repository';
import { parseSshPublicKey, SshKeyRefusal } from './ssh-public-key';

/**
 * A user's SSH public keys: parsed and checked on the way in, listed with their fingerprints,
 * installed by cloud-init in the VMs created with them. Keys are personal: nobody else, admins
 * included, sees or uses them (someone else's key is 404, like a key that does not exist).
 */
@Injectable()
export class SshKeysService {
  constructor(private readonly keys: SshKeyRepository) {}

  list(user: AuthUser, page: PageQueryDto): Promise<{ items: SshKey[]; nextCursor: string | null }> {
    return this.keys.pageOfOwner(user.id, page);
  }

  async get(user: AuthUser, id: string): Promise<SshKey> {
    const key = await this.keys.findOfOwner(user.id, id);
    if (!key) throw AppException.notFound('SSH key');
    return key;
  }

  async create(user: AuthUser, dto: CreateSshKeyDto): Promise<SshKey> {
    const parsed = this.parse(dto.publicKey);
    const key = Object.assign(new SshKey(), { ownerId: user.id, name: dto.name, ...parsed });
    const clash = await this.keys.clashOf(user.id, dto.name, parsed.fingerprint);
    // A concurrent create of the same name or key is skipped by the unique keys: the same 409.
    if (clash || !(await this.keys.insertIfFree(key))) {
      const which = clash ?? (await this.keys.clashOf(user.id, dto.name, parsed.fingerprint));
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.CONFLICT,
        which === 'fingerprint'
          ? `You already have this key (fingerprint ${parsed.fingerprint})`
          : `You already have an SSH key named ${dto.name}`,
      );
    }
    return key;
  }

  async remove(user: AuthUser, id: string): Promise<void> {
    if (!(await this.keys.deleteOfOwner(user.id, id))) throw AppException.notFound('SSH key');
  }

  /**
   * The public key lines of `ids`, in the order given (duplicates once), for a VM `user` creates:
   * each must be the caller's own (404 otherwise, as for an unknown id).
   */
  async publicKeysOf(user: AuthUser, ids: readonly string[], tx?: Tx): Promise<string[]> {
    const unique = [...new Set(ids)];
    const found = new Map((await this.keys.findManyOfOwner(user.id, unique, tx)).map((key) => [key.id, key]));
    const missing = unique.find((id) => !found.has(id));
    if (missing) throw new AppException(HttpStatus.NOT_FOUND, ErrorCode.NOT_FOUND, `SSH key ${missing} not found`);
    return unique.map((id) => found.get(id)!.publicKey);
  }

  private parse(publicKey: string): ReturnType<typeof parseSshPublicKey> {
    try {
      return parseSshPublicKey(publicKey);
    } catch (error) {
      if (!(error instanceof SshKeyRefusal)) throw error;
      throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, error.message, {
        errors: [{ field: 'publicKey', messages: [error.message] }],
      });
    }
  }
}
