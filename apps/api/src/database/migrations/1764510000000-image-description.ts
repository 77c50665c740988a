import { MigrationInterface, QueryRunner } from 'typeorm';

/** What a template's maker says it is (POST /vms/{id}/image `description`); empty for files in IMAGE_DIR. */
export class ImageDescription1764510000000 implements MigrationInterface {
  name = 'ImageDescription1764510000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE images ADD COLUMN description text NOT NULL DEFAULT ''`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE images DROP COLUMN description`);
  }
}
