import { ApiProperty } from '@nestjs/swagger';
import { Matches } from 'class-validator';
import { IMAGE_KINDS, Image, ImageKind } from '../image.entity';

export class ImageDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'debian-12.qcow2' })
  name: string;

  /** iso: install media; disk: a backing image for copy-on-write clones; kernel: direct kernel boot. */
  @ApiProperty({ enum: IMAGE_KINDS, example: 'disk' })
  kind: ImageKind;

  @ApiProperty({ type: 'integer', example: 2147483648 })
  sizeBytes: number;

  @ApiProperty({ type: String, nullable: true, example: null })
  sha256: string | null;

  @ApiProperty({ example: true })
  available: boolean;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  createdAt: string;

  static from(image: Image): ImageDto {
    return {
      id: image.id,
      name: image.name,
      kind: image.kind,
      sizeBytes: image.sizeBytes,
      sha256: image.sha256,
      available: image.available,
      createdAt: image.createdAt.toISOString(),
    };
  }
}

/** Every image, as a rescan leaves them. */
export class ImageListDto {
  @ApiProperty({ type: [ImageDto] })
  items: ImageDto[];
}

export class ImagePageDto {
  @ApiProperty({ type: [ImageDto] })
  items: ImageDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}

export class UploadImageQueryDto {
  /**
   * File name in IMAGE_DIR, ending in .iso, .qcow2, .img or .raw.
   * @example "alpine-3.20.iso"
   */
  @ApiProperty({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\\.(iso|qcow2|img|raw)$' })
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.(iso|qcow2|img|raw)$/, {
    message: 'name must be a plain file name ending in .iso, .qcow2, .img or .raw',
  })
  name: string;
}
