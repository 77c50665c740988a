import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { VmDataModule } from '../vms/vm-data.module';
import { Image } from './image.entity';
import { ImageRepository } from './image.repository';
import { ImagesController } from './images.controller';
import { ImagesService } from './images.service';
import { UploadSlots } from './upload-slots';

@Module({
  imports: [TypeOrmModule.forFeature([Image]), VmDataModule],
  controllers: [ImagesController],
  providers: [ImageRepository, ImagesService, UploadSlots],
  exports: [ImagesService],
})
export class ImagesModule {}
