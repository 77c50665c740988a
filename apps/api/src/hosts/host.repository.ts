import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { Host, HostStorageRecord } from './host.entity';

/** What placement reads of a host. */
export type CapacityHost = Pick<
  Host,
  'id' | 'name' | 'enabled' | 'maintenance' | 'status' | 'cpus' | 'memoryMiB' | 'storage'
>;

/** A host as configured (not as monitored). */
export type HostFields = Pick<
  Host,
  | 'name'
  | 'adapter'
  | 'libvirtUri'
  | 'stateDir'
  | 'storagePath'
  | 'agentUrl'
  | 'agentTokenEncrypted'
  | 'enabled'
  | 'maintenance'
>;

export type HostChanges = Partial<Pick<Host, 'enabled' | 'maintenance' | 'agentUrl' | 'agentTokenEncrypted'>>;

/** The one owner of the `hosts` table's SQL. */
@Injectable()
export class HostRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** Inserts the host unless one of that name exists (whose row then stays as it is); returns the stored row. */
  async registerIfAbsent(host: Omit<HostFields, 'enabled' | 'maintenance' | 'storagePath'>): Promise<Host> {
    await this.query(
      undefined,
      `INSERT INTO hosts (name, adapter, libvirt_uri, state_dir, agent_url, agent_token_encrypted) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING`,
      [host.name, host.adapter, host.libvirtUri, host.stateDir, host.agentUrl, host.agentTokenEncrypted],
    );
    return this.manager().findOneByOrFail(Host, { name: host.name });
  }

  /** Every host, by name. */
  all(): Promise<Host[]> {
    return this.manager().find(Host, { order: { name: 'ASC' } });
  }

  page(page: PageQueryDto): Promise<{ items: Host[]; nextCursor: string | null }> {
    return paginate(this.manager().createQueryBuilder(Host, 'host'), page);
  }

  find(id: string): Promise<Host | null> {
    return this.manager().findOneBy(Host, { id });
  }

  /** Inserts a new host; a taken name is a unique violation (see isUniqueViolation). */
  async create(fields: HostFields): Promise<Host> {
    return this.manager().save(this.manager().create(Host, fields));
  }

  async update(id: string, changes: HostChanges): Promise<void> {
    await this.manager().update(Host, { id }, changes);
  }

  async delete(id: string): Promise<void> {
    await this.manager().delete(Host, { id });
  }

  /** The host answered: up, with the CPUs and memory it reported. */
  async markUp(id: string, cpus: number, memoryMiB: number): Promise<void> {
    await this.query(
      undefined,
      `UPDATE hosts SET status = 'up', status_reason = NULL, cpus = $2, memory_mib = $3, last_seen_at = now(), updated_at = now() WHERE id = $1`,
      [id, cpus, memoryMiB],
    );
  }

  /** What the host's storage pools held when the monitor last read them. */
  async recordStorage(id: string, storage: HostStorageRecord): Promise<void> {
    await this.query(undefined, `UPDATE hosts SET storage = $2 WHERE id = $1`, [id, JSON.stringify(storage)]);
  }

  async markDown(id: string, reason: string): Promise<void> {
    await this.query(
      undefined,
      `UPDATE hosts SET status = 'down', status_reason = $2, updated_at = now() WHERE id = $1`,
      [id, reason],
    );
  }

  /** Every host, locked until `tx` ends, so concurrent placements see each other's allocations. */
  lockForPlacement(tx: Tx): Promise<CapacityHost[]> {
    return this.query<CapacityHost>(
      tx,
      `SELECT id, name, enabled, maintenance, status, cpus, memory_mib AS "memoryMiB", storage FROM hosts ORDER BY name FOR UPDATE`,
    );
  }

  /** Enabled hosts' names and status as the monitor last saw them; a host not checked yet is left out. */
  checkedStatuses(tx: Tx): Promise<Array<{ name: string; status: string }>> {
    return this.query(tx, `SELECT name, status FROM hosts WHERE enabled AND status <> 'unknown'`);
  }
}
