import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { VmDataModule } from '../vms/vm-data.module';
import { HostImage } from './host-image.entity';
import { HostImageCache } from './host-image-cache';
import { HostImageRepository } from './host-image.repository';
import { Image } from './image.entity';
import { ImageRepository } from './image.repository';
import { ImagesController } from './images.controller';
import { ImagesService } from './images.service';
import { UploadSlots } from './upload-slots';

@Module({
  imports: [TypeOrmModule.forFeature([Image, HostImage]), VmDataModule],
  controllers: [ImagesController],
  providers: [ImageRepository, HostImageRepository, ImagesService, HostImageCache, UploadSlots],
  // ImageRepository: templates (TemplatesModule) write their rows.
  exports: [ImagesService, HostImageCache, ImageRepository],
})
export class ImagesModule {}
