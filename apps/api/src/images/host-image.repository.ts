import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TableRepository } from '../database/table-repository';
import { HostImage } from './host-image.entity';

/** The one owner of the `host_images` table's SQL: which image is cached as which volume on which host. */
@Injectable()
export class HostImageRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  find(hostId: string, imageId: string): Promise<HostImage | null> {
    return this.manager().findOneBy(HostImage, { hostId, imageId });
  }

  /**
   * Inserts the row as `uploading` unless the host already has one for the image: true when this
   * caller inserted it (and so uploads), false when another did.
   */
  async claim(row: Pick<HostImage, 'hostId' | 'imageId' | 'volume' | 'sha256' | 'sizeBytes'>): Promise<boolean> {
    const inserted = await this.query(
      undefined,
      `INSERT INTO host_images (host_id, image_id, volume, sha256, size_bytes, state) VALUES ($1, $2, $3, $4, $5, 'uploading')
       ON CONFLICT (host_id, image_id) DO NOTHING RETURNING host_id`,
      [row.hostId, row.imageId, row.volume, row.sha256, row.sizeBytes],
    );
    return inserted.length === 1;
  }

  /** The upload is still running. */
  async heartbeat(hostId: string, imageId: string): Promise<void> {
    await this.query(
      undefined,
      `UPDATE host_images SET heartbeat_at = now() WHERE host_id = $1 AND image_id = $2 AND state = 'uploading'`,
      [hostId, imageId],
    );
  }

  async markReady(hostId: string, imageId: string): Promise<void> {
    await this.query(
      undefined,
      `UPDATE host_images SET state = 'ready', heartbeat_at = now() WHERE host_id = $1 AND image_id = $2`,
      [hostId, imageId],
    );
  }

  async delete(hostId: string, imageId: string): Promise<void> {
    await this.query(undefined, `DELETE FROM host_images WHERE host_id = $1 AND image_id = $2`, [hostId, imageId]);
  }

  /**
   * Deletes the host's `uploading` row for the image if its heartbeat stopped more than `seconds`
   * ago (judged by the database's clock, so replicas' clocks do not matter); returns it if so.
   */
  async removeIfAbandoned(hostId: string, imageId: string, seconds: number): Promise<HostImage | null> {
    // TypeORM's postgres driver answers a DELETE ... RETURNING with [rows, rowCount].
    const [rows] = await this.query<Record<string, unknown>[]>(
      undefined,
      `DELETE FROM host_images WHERE host_id = $1 AND image_id = $2 AND state = 'uploading'
         AND heartbeat_at < now() - make_interval(secs => $3) RETURNING *`,
      [hostId, imageId, seconds],
    );
    return rows.length ? this.fromRow(HostImage, rows[0]) : null;
  }

  /** Another image's ready row on the host naming the same volume: identical content is uploaded once. */
  async readySibling(hostId: string, imageId: string, volume: string): Promise<HostImage | null> {
    return this.manager()
      .createQueryBuilder(HostImage, 'hi')
      .where('hi.host_id = :hostId AND hi.image_id <> :imageId AND hi.volume = :volume AND hi.state = :ready', {
        hostId,
        imageId,
        volume,
        ready: 'ready',
      })
      .getOne();
  }

  /** Whether any other image's row on the host names the volume (then it stays when this one goes). */
  async volumeSharedOnHost(hostId: string, imageId: string, volume: string): Promise<boolean> {
    return this.manager()
      .createQueryBuilder(HostImage, 'hi')
      .where('hi.host_id = :hostId AND hi.image_id <> :imageId AND hi.volume = :volume', { hostId, imageId, volume })
      .getExists();
  }

  /** Rows of images that were deleted or are no longer available: candidates for removal. */
  async ofGoneImages(): Promise<HostImage[]> {
    const rows = await this.query(
      undefined,
      `SELECT hi.* FROM host_images hi LEFT JOIN images i ON i.id = hi.image_id
       WHERE i.id IS NULL OR NOT i.available ORDER BY hi.created_at`,
    );
    return rows.map((row) => this.fromRow(HostImage, row));
  }

  /** Uploads whose heartbeat stopped more than `seconds` ago: their process died mid-upload. */
  async abandonedUploads(seconds: number): Promise<HostImage[]> {
    const rows = await this.query(
      undefined,
      `SELECT * FROM host_images WHERE state = 'uploading' AND heartbeat_at < now() - make_interval(secs => $1)
       ORDER BY created_at`,
      [seconds],
    );
    return rows.map((row) => this.fromRow(HostImage, row));
  }
}
