import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `images.sha256_stamp`: the file's size, inode and change times when its digest was computed.
 * While they are the same, an image copied to a remote host is not read a second time to hash it.
 */
export class ImageDigestStamp1764407000000 implements MigrationInterface {
  name = 'ImageDigestStamp1764407000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE images ADD COLUMN sha256_stamp text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE images DROP COLUMN sha256_stamp`);
  }
}
