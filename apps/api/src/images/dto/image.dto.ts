import { ApiProperty } from '@nestjs/swagger';
import { IsIn, IsString, Matches, MaxLength } from 'class-validator';
import { IsFreeText } from '../../common/free-text';
import { IsOptionalNotNull } from '../../common/validation';
import { OperationDto } from '../../operations/dto/operation.dto';
import {
  IMAGE_KINDS,
  IMAGE_STATES,
  IMAGE_VISIBILITIES,
  Image,
  ImageKind,
  ImageState,
  ImageVisibility,
} from '../image.entity';
import { IMAGE_NAME } from '../image-scanner';

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

  /** What a template's maker says it is; empty for files in IMAGE_DIR. */
  @ApiProperty({ example: '' })
  description: string;

  /** Who made it (a template of a VM); null: a file in IMAGE_DIR or an admin's upload. */
  @ApiProperty({ type: String, format: 'uuid', nullable: true, example: null })
  ownerId: string | null;

  /** The VM a template was made from (it may since have been deleted). */
  @ApiProperty({ type: String, format: 'uuid', nullable: true, example: null })
  sourceVmId: string | null;

  /** private: its owner and admins see and use it; public: every user. Admins publish. */
  @ApiProperty({ enum: IMAGE_VISIBILITIES, example: 'public' })
  visibility: ImageVisibility;

  /** creating: a template still being written (not usable yet). */
  @ApiProperty({ enum: IMAGE_STATES, example: 'ready' })
  state: ImageState;

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
      description: image.description,
      ownerId: image.ownerId,
      sourceVmId: image.sourceVmId,
      visibility: image.visibility,
      state: image.state,
      createdAt: image.createdAt.toISOString(),
    };
  }
}

/** A template being written from a VM's boot disk, and the operation writing it. */
export class ImageAcceptedDto {
  @ApiProperty({ type: ImageDto })
  image: ImageDto;

  @ApiProperty({ type: OperationDto })
  operation: OperationDto;
}

export class CreateTemplateDto {
  /**
   * The image's name, unique among all images (case aside): a plain file-like name of 1-128
   * characters, letters, digits, `.`, `_` and `-`, starting with a letter or digit.
   * @example "web-base-2026-12"
   */
  @ApiProperty({ pattern: IMAGE_NAME.source })
  @IsString()
  @Matches(IMAGE_NAME, {
    message: 'name must be 1-128 characters of letters, digits, . _ -, starting with a letter or digit',
  })
  @Matches(/^(?!.*\.\.)/, { message: 'name must not contain ..' })
  name: string;

  /**
   * Free text, up to 1 KiB; no control characters other than tab and line breaks.
   * @example "web server, patched 2026-12-07"
   */
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(1024)
  @IsFreeText()
  description?: string;
}

export class UpdateImageDto {
  /** public: every user may see and use the image; private: its owner and admins only. */
  @ApiProperty({ enum: IMAGE_VISIBILITIES })
  @IsIn(IMAGE_VISIBILITIES)
  visibility: ImageVisibility;
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
