import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { AuthUser, CurrentUser, Roles } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import { ImageDto, ImageListDto, ImagePageDto, UpdateImageDto, UploadImageQueryDto } from './dto/image.dto';
import { ImagesService } from './images.service';
import { ScopeResource } from '../auth/scopes';

@ApiTags('images')
@ApiBearerAuth()
@ApiProblems(401, 429)
@ScopeResource('images')
@Controller({ path: 'images', version: '1' })
export class ImagesController {
  constructor(private readonly images: ImagesService) {}

  /** The images you may boot from (public ones, and your own templates; admins: all), newest first. */
  @Get()
  @ApiProblems(400)
  async list(@CurrentUser() user: AuthUser, @Query() page: PageQueryDto): Promise<ImagePageDto> {
    const result = await this.images.list(user, page);
    return { items: result.items.map(ImageDto.from), nextCursor: result.nextCursor };
  }

  /** One image (another user's private template is 404). */
  @Get(':id')
  @ApiProblems(400, 404)
  async get(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<ImageDto> {
    return ImageDto.from(await this.images.visible(user, id));
  }

  /** Publish a template to every user, or make an image private again (admin). */
  @Patch(':id')
  @Roles('admin')
  @ApiBody({
    type: UpdateImageDto,
    examples: {
      publish: {
        summary: 'Publish a template to every user',
        description: 'The id must name an image (else `NOT_FOUND`).',
        value: { visibility: 'public' },
      },
    },
  })
  @ApiProblems(400, 403, 404)
  async update(@Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateImageDto): Promise<ImageDto> {
    return ImageDto.from(await this.images.setVisibility(id, dto.visibility));
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

  /** Delete an image and its file (admins; users their own templates); refused while a VM uses it. */
  @Delete(':id')
  @HttpCode(204)
  @ApiProblems(400, 403, 404, 409)
  async remove(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.images.remove(user, id);
  }
}
