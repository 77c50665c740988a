import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, DeepPartial, In, Not } from 'typeorm';
import { PageQueryDto } from '../common/page-query.dto';
import { paginate } from '../database/paginate';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { Image, ImageVisibility } from './image.entity';
import { FoundImage } from './image-scanner';

/** The one owner of the `images` table's SQL. */
@Injectable()
export class ImageRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /**
   * Records a file found in IMAGE_DIR as available: a new row, or the one with its path updated.
   * A file whose size changed is another file: its digest is forgotten, to be computed again.
   */
  async upsertFound(tx: Tx, image: FoundImage): Promise<void> {
    await this.query(
      tx,
      `INSERT INTO images (name, kind, path, format, size_bytes, available) VALUES ($1, $2, $3, $4, $5, true)
       ON CONFLICT (path) DO UPDATE SET kind = EXCLUDED.kind, format = EXCLUDED.format, size_bytes = EXCLUDED.size_bytes,
         available = true, updated_at = now(),
         sha256 = CASE WHEN images.size_bytes = EXCLUDED.size_bytes THEN images.sha256 END,
         sha256_stamp = CASE WHEN images.size_bytes = EXCLUDED.size_bytes THEN images.sha256_stamp END`,
      [image.name, image.kind, image.path, image.format, image.sizeBytes],
    );
  }

  /**
   * The digest of the image's bytes as computed under the file's `stamp` (HostImageCache): a new
   * one, or a new stamp for the digest already recorded; a different digest never replaces it.
   */
  async recordSha256(id: string, sha256: string, stamp: string | null): Promise<void> {
    await this.query(
      undefined,
      `UPDATE images SET sha256 = $2, sha256_stamp = $3 WHERE id = $1 AND (sha256 IS NULL OR sha256 = $2)`,
      [id, sha256, stamp],
    );
  }

  /** Every image whose path is not among `paths` becomes unavailable. */
  async markUnavailableExcept(tx: Tx, paths: string[]): Promise<void> {
    const gone = this.manager(tx).createQueryBuilder().update(Image).set({ available: false });
    await (paths.length ? gone.where({ path: Not(In(paths)) }) : gone).execute();
  }

  allByName(): Promise<Image[]> {
    return this.manager().find(Image, { order: { name: 'ASC' } });
  }

  /**
   * One page, newest first: every image (`viewerId` undefined: an admin), or those `viewerId` may
   * see: its own templates, and images that are public and ready (see imageVisibleTo).
   */
  page(page: PageQueryDto, viewerId?: string): Promise<{ items: Image[]; nextCursor: string | null }> {
    const query = this.manager().createQueryBuilder(Image, 'image');
    if (viewerId !== undefined)
      query.where(`(image.ownerId = :viewerId OR (image.visibility = 'public' AND image.state = 'ready'))`, {
        viewerId,
      });
    return paginate(query, page);
  }

  /** Whether any image (a template or a file) has this name, case aside. */
  async nameTaken(tx: Tx, name: string): Promise<boolean> {
    const rows = await this.query(tx, `SELECT 1 FROM images WHERE lower(name) = lower($1) LIMIT 1`, [name]);
    return rows.length > 0;
  }

  /** Inserts a template being made; false when a template of that name (case aside) got there first (skipped, so `tx` stays usable). */
  insertTemplateIfNameFree(tx: Tx, image: Image): Promise<boolean> {
    return this.insert(tx, image, { ifNoConflict: true });
  }

  /** A template written: its file's size and digest, ready and available. */
  async markTemplateReady(id: string, fields: { sizeBytes: number; sha256: string; sha256Stamp: string | null }) {
    await this.manager().update(Image, { id }, { ...fields, state: 'ready', available: true });
  }

  async setVisibility(id: string, visibility: ImageVisibility): Promise<void> {
    await this.manager().update(Image, { id }, { visibility });
  }

  find(id: string): Promise<Image | null> {
    return this.manager().findOneBy(Image, { id });
  }

  existsWithPath(path: string): Promise<boolean> {
    return this.manager().existsBy(Image, { path });
  }

  /** Inserts a new image; returns it as stored. */
  save(image: DeepPartial<Image>): Promise<Image> {
    const manager = this.manager();
    return manager.save(manager.create(Image, image));
  }

  async delete(id: string): Promise<void> {
    await this.manager().delete(Image, { id });
  }
}
