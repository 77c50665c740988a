import { Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { AuthUser, CurrentUser, Roles } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import { ImageDto, ImageListDto, ImagePageDto, UploadImageQueryDto } from './dto/image.dto';
import { ImagesService } from './images.service';

@ApiTags('images')
@ApiBearerAuth()
@ApiProblems(401, 429)
@Controller({ path: 'images', version: '1' })
export class ImagesController {
  constructor(private readonly images: ImagesService) {}

  /** The images any user may boot from, newest first. */
  @Get()
  @ApiProblems(400)
  async list(@Query() page: PageQueryDto): Promise<ImagePageDto> {
    const result = await this.images.list(page);
    return { items: result.items.map(ImageDto.from), nextCursor: result.nextCursor };
  }

  /** One image. */
  @Get(':id')
  @ApiProblems(400, 404)
  async get(@Param('id', ParseUUIDPipe) id: string): Promise<ImageDto> {
    return ImageDto.from(await this.images.get(id));
  }

  /** Re-read IMAGE_DIR (admin). */
  @Post('rescan')
  @HttpCode(200)
  @Roles('admin')
  @ApiProblems(403)
  async rescan(): Promise<ImageListDto> {
    return { items: (await this.images.rescan()).items.map(ImageDto.from) };
  }

  /**
   * Upload an image as the raw request body (admin); streamed to disk with a size limit and a SHA-256.
   * It may take as long as it needs while it keeps up UPLOAD_MIN_BYTES_PER_SECOND (else 408), and
   * only so many run at once (else 429 UPLOAD_LIMIT).
   */
  @Post()
  @Roles('admin')
  @ApiConsumes('application/octet-stream')
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  @ApiProblems(400, 403, 408, 409, 413)
  async upload(
    @Query() query: UploadImageQueryDto,
    @Req() req: Request,
    @CurrentUser() user: AuthUser,
  ): Promise<ImageDto> {
    const length = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    return ImageDto.from(await this.images.upload(query.name, req, length, user.id));
  }

  /** Delete an image and its file (admin); refused while a VM uses it. */
  @Delete(':id')
  @HttpCode(204)
  @Roles('admin')
  @ApiProblems(400, 403, 404, 409)
  async remove(@Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.images.remove(id);
  }
}
