import { randomUUID } from 'node:crypto';
import { PageQueryDto } from '../../common/page-query.dto';
import { SshKey } from '../ssh-key.entity';
import { SshKeyRepository } from '../ssh-key.repository';

/** SshKeyRepository in memory, for unit specs: the (owner, name) and (owner, fingerprint) keys, generated ids. */
export class FakeSshKeyRepository {
  readonly rows = new Map<string, SshKey>();

  async pageOfOwner(ownerId: string, page: PageQueryDto): Promise<{ items: SshKey[]; nextCursor: string | null }> {
    const items = [...this.rows.values()].filter((key) => key.ownerId === ownerId).reverse();
    return { items: items.slice(0, page.limit), nextCursor: null };
  }

  async findOfOwner(ownerId: string, id: string): Promise<SshKey | null> {
    const key = this.rows.get(id);
    return key?.ownerId === ownerId ? Object.assign(new SshKey(), key) : null;
  }

  async findManyOfOwner(ownerId: string, ids: string[]): Promise<SshKey[]> {
    return [...this.rows.values()].filter((key) => key.ownerId === ownerId && ids.includes(key.id));
  }

  async clashOf(ownerId: string, name: string, fingerprint: string): Promise<'name' | 'fingerprint' | null> {
    const mine = [...this.rows.values()].filter((key) => key.ownerId === ownerId);
    if (mine.some((key) => key.name === name)) return 'name';
    return mine.some((key) => key.fingerprint === fingerprint) ? 'fingerprint' : null;
  }

  async insertIfFree(key: SshKey): Promise<boolean> {
    if (await this.clashOf(key.ownerId, key.name, key.fingerprint)) return false;
    Object.assign(key, { id: randomUUID(), createdAt: new Date() });
    this.rows.set(key.id, Object.assign(new SshKey(), key));
    return true;
  }

  async deleteOfOwner(ownerId: string, id: string): Promise<boolean> {
    if (this.rows.get(id)?.ownerId !== ownerId) return false;
    return this.rows.delete(id);
  }

  /** Typed as the real one, for constructors. */
  get asRepository(): SshKeyRepository {
    return this as unknown as SshKeyRepository;
  }
}
