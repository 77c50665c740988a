import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, DeepPartial } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { TableRepository } from '../database/table-repository';
import { AlertChannel } from './alert-channel.entity';

/** The one owner of the `alert_channels` table's SQL. Secrets are read only by the `*WithSecrets` methods. */
@Injectable()
export class AlertChannelRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  page(page: PageQueryDto): Promise<{ items: AlertChannel[]; nextCursor: string | null }> {
    return paginate(this.manager().createQueryBuilder(AlertChannel, 'channel'), page);
  }

  find(id: string): Promise<AlertChannel | null> {
    return this.manager().findOneBy(AlertChannel, { id });
  }

  /** The enabled channels, secrets included, for delivering notifications. */
  enabledWithSecrets(): Promise<AlertChannel[]> {
    return this.withSecrets().where('c.enabled').getMany();
  }

  /** One channel, secret included; throws when there is none. */
  findWithSecret(id: string): Promise<AlertChannel> {
    return this.withSecrets().where('c.id = :id', { id }).getOneOrFail();
  }

  /** Inserts a new channel or updates a loaded one; a taken name throws a unique violation (see isUniqueViolation). */
  save(channel: DeepPartial<AlertChannel>): Promise<AlertChannel> {
    const manager = this.manager();
    return manager.save(manager.create(AlertChannel, channel));
  }

  /** False when there was no such channel. */
  async delete(id: string): Promise<boolean> {
    const result = await this.manager().delete(AlertChannel, { id });
    return Boolean(result.affected);
  }

  private withSecrets() {
    return this.manager().createQueryBuilder(AlertChannel, 'c').addSelect('c.secret');
  }
}
